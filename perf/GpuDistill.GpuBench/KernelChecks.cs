using System.Globalization;
using GpuDistill.Compute;
using GpuDistill.Kernels.AttentionTransfer;
using GpuDistill.Kernels.Rows;
using GpuDistill.Kernels.Relations.CorrelationCongruence;
using GpuDistill.Kernels.Relations.RelationalAngle;
using GpuDistill.Kernels.Relations.RelationalDistance;
using GpuDistill.Kernels.Relations.SimilarityPreserving;
using GpuDistill.References;
using ILGPU;
using ILGPU.Runtime;
using FlowMap = GpuDistill.References.FlowMatrixReference.Map;

namespace GpuDistill.GpuBench;

/// <summary>
/// Every check of the coverage pass, one list per kernel family: the row losses (forward KL in both layouts, reverse
/// KL, JSD, DKD) at 1x1, 41x1271 and one long row, with moderate and extreme (1e4) logits; attention transfer (maps
/// forward and backward, the fused loss, code and paper forms); and the relations (SP, RKD distance and angle, FSP,
/// CC in both definitions) at B = 1 (2 where B must pair), 3, 37 and 256 with other student and teacher widths.
/// Bounds and floors are those of the kernel tests in tests/GpuDistill.Tests/Kernels.
/// </summary>
public static class KernelChecks
{
    /// <summary>
    /// The row-loss shapes: an odd medium shape, one long row (an LLM-sized vocabulary), a single element. The shapes
    /// the library launches run first: a kernel that never returns stops the rest of its family.
    /// </summary>
    public static IReadOnlyList<(int Rows, int Classes)> RowShapes { get; } = [(41, 1271), (3, 100003), (1, 1)];

    // ---- row losses -------------------------------------------------------------------------------------------

    /// <summary>Moderate logits (|z| &lt;= 5, T = 4, no padding) or extreme ones (|z| &lt;= 1e4, T = 2, padding rows).</summary>
    private sealed record RowMode(double Scale, double Temperature, bool Extreme)
    {
        public string Describe(bool labels) =>
            string.Create(CultureInfo.InvariantCulture, $"T={Temperature:0} {(labels ? Extreme ? "labels+pad" : "labels" : "no labels")} |z|<={Scale:0.#}");
    }

    private static readonly RowMode[] RowModes = [new(5, 4, false), new(1e4, 2, true)];

    /// <summary>Every row loss of <see cref="RowLossCase.All"/> in both layouts, at each shape, moderate and extreme.</summary>
    private static IEnumerable<KernelCheck> RowChecks()
    {
        foreach (RowLayout layout in Layouts.All)
        foreach ((int rows, int classes) in RowShapes)
        foreach (RowMode mode in RowModes)
        foreach (RowLossCase loss in RowLossCase.All)
        {
            bool small = (long)rows * classes < 100_000;
            // Extreme logits come with labels and padding rows; a loss that needs labels always has them.
            bool labels = mode.Extreme || loss.AlwaysLabels;
            string settings = loss.Describe(mode.Extreme);
            string name = $"{rows}x{classes} {mode.Describe(labels)} {Layouts.Name(layout)}{(settings.Length == 0 ? "" : " " + settings)}";
            yield return new KernelCheck(loss.Family, name, small, (device, random) =>
            {
                RowRun run = loss.Run(device, MakeRows(random, rows, classes, mode, labels, padding: mode.Extreme), layout);
                return Comparison.Of(run.Loss, run.Gradient, run.ExpectedLoss, run.ExpectedGradient, run.Magnitude, run.GradientScale);
            });
        }
    }

    private static RowInputs MakeRows(Random random, int rows, int classes, RowMode mode, bool labels, bool padding)
    {
        long elements = (long)rows * classes;
        float[] student = Uniform(random, elements, mode.Scale);
        float[] teacher = Uniform(random, elements, mode.Scale);
        // Padding: every fifth row from the second on, so even the smallest shapes keep a counted row.
        int[]? y = labels
            ? Enumerable.Range(0, rows).Select(i => padding && i % 5 == 1 ? RowInputs.IgnoreIndex : random.Next(classes)).ToArray()
            : null;
        int counted = y is null ? rows : y.Count(v => v != RowInputs.IgnoreIndex);
        return new RowInputs(rows, classes, student, teacher, y, counted, mode.Temperature, mode.Extreme);
    }

    // ---- attention transfer -----------------------------------------------------------------------------------

    /// <summary>B, student C, teacher C, H, W: one position, odd sizes with another teacher width, a CNN stage.</summary>
    private static readonly (int Batch, int StudentChannels, int TeacherChannels, int Height, int Width)[] AttentionShapes =
        [(1, 3, 3, 1, 1), (7, 13, 21, 5, 9), (64, 256, 128, 8, 8)];

    /// <summary>p and the student / teacher feature scales: the default p = 2 on plain features, p = 1.5 on 1e3 against 1e-3.</summary>
    private static readonly (double P, double StudentScale, double TeacherScale)[] AttentionSettings = [(2, 1, 1), (1.5, 1e3, 1e-3)];

    private static IEnumerable<KernelCheck> AttentionChecks()
    {
        foreach ((int batch, int cs, int ct, int h, int w) in AttentionShapes)
        foreach (AttentionTransferForm form in new[] { AttentionTransferForm.Code, AttentionTransferForm.Paper })
        foreach ((double p, double studentScale, double teacherScale) in AttentionSettings)
        {
            int positions = h * w;
            bool small = batch < 64;
            string shape = string.Create(CultureInfo.InvariantCulture,
                $"{batch}x{cs}x{h}x{w} / {batch}x{ct}x{h}x{w} {form.ToString().ToLowerInvariant()} p={p} {studentScale:0.###} / {teacherScale:0.###}");
            yield return new KernelCheck("at-loss", shape, small, (device, random) =>
            {
                float[] student = Uniform(random, (long)batch * cs * positions, studentScale);
                float[] teacher = Uniform(random, (long)batch * ct * positions, teacherScale);
                (double loss, float[] gradient) = RunAttentionLoss(device, student, teacher, batch, cs, ct, positions, p, form);
                (double expected, double[] expectedGradient) =
                    AttentionTransferReference.Compute(student, teacher, batch, cs, ct, positions, p, form);
                double gradientScale = AttentionTransferReference.GradientScale(ReferenceMath.ToDouble(student), batch, cs,
                    positions, p, form);
                // A map entry is at most 1: each example adds ||d||^2 <= 2 over B H W (code) or ||d|| <= sqrt 2 over B (paper).
                double magnitude = form == AttentionTransferForm.Paper ? 1 : 1.0 / positions;
                return new Comparison(ErrorMeasure.Of(loss, expected, 1e-6 / Comparison.Relative * magnitude, Comparison.Relative),
                    ErrorMeasure.Of(gradient, expectedGradient, 1e-2 * gradientScale, Comparison.Relative));
            });

            string mapShape = string.Create(CultureInfo.InvariantCulture,
                $"{batch}x{cs}x{h}x{w} {form.ToString().ToLowerInvariant()} p={p} {studentScale:0.###}{(batch > 1 ? " zero example" : "")}");
            yield return new KernelCheck("at-map", mapShape, small, (device, random) =>
            {
                float[] feature = Uniform(random, (long)batch * cs * positions, studentScale);
                float[] upstream = Uniform(random, (long)batch * positions, 1);
                if (batch > 1) Array.Clear(feature, 0, cs * positions); // an all-zero example: the norm's floor is active
                (float[] map, float[] gradient) = RunAttentionMap(device, feature, upstream, batch, cs, positions, p, form);
                double[] feature64 = ReferenceMath.ToDouble(feature);
                double[] expectedMap = AttentionTransferReference.Map(feature64, batch, cs, positions, p, form);
                double[] expectedGradient = AttentionTransferReference.MapBackward(feature64, ReferenceMath.ToDouble(upstream),
                    batch, cs, positions, p, form);
                double gradientScale = AttentionTransferReference.GradientScale(feature64, batch, cs, positions, p, form,
                    upstreamSize: upstream.Max(Math.Abs));
                return new Comparison(ErrorMeasure.Of(map, expectedMap, 0, Comparison.Relative),
                    ErrorMeasure.Of(gradient, expectedGradient, 1e-2 * gradientScale, Comparison.Relative), "map");
            });
        }
    }

    private static (double Loss, float[] Gradient) RunAttentionLoss(ComputeDevice device, float[] student, float[] teacher,
        int batch, int cs, int ct, int positions, double p, AttentionTransferForm form)
    {
        Accelerator accelerator = device.Accelerator;
        var parameters = new AttentionTransferParameters(batch, cs, ct, positions, (float)p, form);
        using var s = accelerator.Allocate1D(student);
        using var t = accelerator.Allocate1D(teacher);
        using var studentSums = accelerator.Allocate1D<float>((long)batch * positions);
        using var teacherSums = accelerator.Allocate1D<float>((long)batch * positions);
        using var mapGradient = accelerator.Allocate1D<float>((long)batch * positions);
        using var g = accelerator.Allocate1D<float>(student.Length);
        using var l = accelerator.Allocate1D<float>(batch);
        device.Kernels<AttentionTransferLauncher>().LaunchLoss(s.View, t.View, studentSums.View, teacherSums.View,
            mapGradient.View, g.View, l.View, parameters);
        accelerator.Synchronize();
        return (l.GetAsArray1D().Sum(v => (double)v), g.GetAsArray1D());
    }

    private static (float[] Map, float[] Gradient) RunAttentionMap(ComputeDevice device, float[] feature, float[] upstream,
        int batch, int channels, int positions, double p, AttentionTransferForm form)
    {
        Accelerator accelerator = device.Accelerator;
        var m = new AttentionMapParameters(batch, channels, positions, (float)p, form);
        AttentionTransferLauncher launcher = device.Kernels<AttentionTransferLauncher>();
        using var f = accelerator.Allocate1D(feature);
        using var u = accelerator.Allocate1D(upstream);
        using var map = accelerator.Allocate1D<float>((long)batch * positions);
        using var norms = accelerator.Allocate1D<float>(batch);
        using var mapGradient = accelerator.Allocate1D<float>((long)batch * positions);
        using var g = accelerator.Allocate1D<float>(feature.Length);
        launcher.LaunchMap(f.View, map.View, norms.View, m);
        launcher.LaunchMapBackward(f.View, map.View, norms.View, u.View, mapGradient.View, g.View, m);
        accelerator.Synchronize();
        return (map.GetAsArray1D(), g.GetAsArray1D());
    }

    // ---- relations --------------------------------------------------------------------------------------------

    /// <summary>B, student width, teacher width: B = 1 (or 2 where pairs are needed), 3, 37 and 256, widths that differ.</summary>
    private static readonly (int Batch, int StudentWidth, int TeacherWidth)[] RelationShapes =
        [(1, 5, 3), (3, 16, 33), (37, 19, 8), (256, 24, 40)];

    /// <summary>Student feature scale and offset: plain, large, and far from the origin (where uncentred sums cancel).</summary>
    private static readonly (double Scale, float Offset)[] RelationInputs = [(1, 0), (300, 0), (1, 1000)];

    private static IEnumerable<KernelCheck> RelationChecks()
    {
        foreach ((int shapeBatch, int ds, int dt) in RelationShapes)
        {
            bool large = shapeBatch >= 256;
            // SP as the kernel tests run it: plain and large features (no offset: its uncentred Gram rows would
            // cancel there, as PyTorch's do); B = 256 the large ones only.
            foreach (double scale in large ? [300.0] : new[] { 1.0, 300.0 })
            {
                yield return PairCheck("sp", string.Create(CultureInfo.InvariantCulture, $"B={shapeBatch} Ds={ds} Dt={dt} |s|<={scale:0}"),
                    shapeBatch, ds, dt, scale, 0, !large,
                    (device, b) => (s, t, g, r) => device.Kernels<SimilarityPreservingLauncher>().Run(s, t, g, r, b, ds, dt),
                    SimilarityPreservingReference.Compute, lossFloor: 1e-2, rowNormFloor: true);
            }

            foreach ((double scale, float offset) in RelationInputs)
            {
                // B = 256 runs the hardest inputs only: the angle reference is O(B^3 D) and the CPU simulator slow.
                if (large && offset == 0) continue;
                string inputs = string.Create(CultureInfo.InvariantCulture, $"|s|<={scale:0}{(offset != 0 ? $"+{offset:0}" : "")}");
                string Shape(int b) => string.Create(CultureInfo.InvariantCulture, $"B={b} Ds={ds} Dt={dt} {inputs}");
                int pairBatch = Math.Max(2, shapeBatch);
                yield return PairCheck("rkd-distance", Shape(pairBatch), pairBatch, ds, dt, scale, offset, !large,
                    (device, b) => (s, t, g, r) => device.Kernels<RelationalDistanceLauncher>().Run(s, t, g, r, b, ds, dt),
                    RelationalDistanceReference.Compute, lossFloor: 1e-2, rowNormFloor: true);

                // The angle reference loops over B^3 triples of D-vectors: small widths at B = 256.
                (int ads, int adt) = large ? (6, 4) : (ds, dt);
                yield return PairCheck("rkd-angle",
                    string.Create(CultureInfo.InvariantCulture, $"B={shapeBatch} Ds={ads} Dt={adt} {inputs}"), shapeBatch,
                    ads, adt, scale, offset, !large,
                    (device, b) => (s, t, g, r) => device.Kernels<RelationalAngleLauncher>().Run(s, t, g, r, b, ads, adt),
                    RelationalAngleReference.Compute, lossFloor: 1e-2, rowNormFloor: true);
            }

            foreach (double scale in new[] { 1.0, 1e3 })
            {
                int pairBatch = Math.Max(2, shapeBatch);
                string shape = string.Create(CultureInfo.InvariantCulture, $"B={pairBatch} D={ds} |f|<={scale:0}");
                yield return new KernelCheck("cc-repdistiller", shape, !large, (device, random) =>
                {
                    float[] s = Uniform(random, (long)pairBatch * ds, scale);
                    float[] t = Uniform(random, (long)pairBatch * ds, scale);
                    (double loss, float[] gradient) = KernelLaunches.RunPair(device, s, t, pairBatch, (sv, tv, g, r) =>
                        device.Kernels<CorrelationCongruenceRepDistillerLauncher>().Run(sv, tv, g, r, pairBatch, ds));
                    (double expected, double[] expectedGradient) = CorrelationCongruenceReference.RepDistiller(
                        ReferenceMath.ToDouble(s), ReferenceMath.ToDouble(t), pairBatch, ds);
                    return new Comparison(ErrorMeasure.Of(loss, expected, 0, Comparison.Relative),
                        ErrorMeasure.Of(gradient, expectedGradient, 0, Comparison.Relative));
                });
            }

            foreach ((CorrelationKernel kernel, double gamma, int order) in new[]
                     { (CorrelationKernel.Bilinear, 0.0, 0), (CorrelationKernel.Gaussian, 0.4, 2), (CorrelationKernel.Gaussian, 0.7, 3) })
            {
                string shape = string.Create(CultureInfo.InvariantCulture,
                    $"B={shapeBatch} Ds={ds} Dt={dt} {kernel.ToString().ToLowerInvariant()}{(kernel == CorrelationKernel.Gaussian ? $" gamma={gamma} P={order}" : "")}");
                yield return new KernelCheck("cc-kernel", shape, !large, (device, random) =>
                {
                    var p = new CorrelationKernelParameters(kernel, gamma, order);
                    float[] s = Uniform(random, (long)shapeBatch * ds, 0.5);
                    float[] t = Uniform(random, (long)shapeBatch * dt, 0.5);
                    (double loss, float[] gradient) = KernelLaunches.RunPair(device, s, t, shapeBatch, (sv, tv, g, r) =>
                        device.Kernels<CorrelationCongruenceKernelLauncher>().Run(sv, tv, g, r, shapeBatch, ds, dt, p));
                    double[] s64 = ReferenceMath.ToDouble(s), t64 = ReferenceMath.ToDouble(t);
                    bool gaussian = kernel == CorrelationKernel.Gaussian;
                    (double expected, double[] expectedGradient) =
                        CorrelationCongruenceReference.Kernel(s64, t64, shapeBatch, ds, dt, gaussian, gamma, order);
                    // The loss is a difference of correlation matrices: measured against their size (B = 1: one entry each).
                    double lossFloor = CorrelationCongruenceReference.KernelScale(s64, t64, shapeBatch, ds, dt, gaussian, gamma, order);
                    return new Comparison(ErrorMeasure.Of(loss, expected, lossFloor, Comparison.Relative),
                        ErrorMeasure.Of(gradient, expectedGradient, 0, Comparison.Relative));
                });
            }
        }

        foreach (KernelCheck check in FlowChecks()) yield return check;
    }

    /// <summary>B, C1, C2, student H*W, teacher H*W: the issue's 3x5x7x7 / 3x9x7x7 pair with a 4x4 teacher among them.</summary>
    private static readonly (int Batch, int Bottom, int Top, int StudentArea, int TeacherArea)[] FlowShapes =
        [(1, 2, 3, 4, 9), (3, 5, 9, 49, 16), (37, 4, 6, 9, 16), (256, 3, 2, 4, 4)];

    private static IEnumerable<KernelCheck> FlowChecks()
    {
        foreach ((int batch, int c1, int c2, int sa, int ta) in FlowShapes)
        foreach (double scale in new[] { 1.0, 100.0 })
        {
            string shape = string.Create(CultureInfo.InvariantCulture,
                $"{batch}x{c1}x{Area(sa)} / {batch}x{c2}x{Area(sa)}, teacher {Area(ta)} |s|<={scale:0}");
            yield return new KernelCheck("fsp", shape, batch < 256, (device, random) =>
            {
                float[] sb = Uniform(random, (long)batch * c1 * sa, scale), st = Uniform(random, (long)batch * c2 * sa, scale);
                float[] tb = Uniform(random, (long)batch * c1 * ta, 1), tt = Uniform(random, (long)batch * c2 * ta, 1);
                (double loss, float[] gradient) = KernelLaunches.RunFlow(device, sb, st, tb, tt, batch, c1, c2, sa, ta);
                (double expected, double[] dBottom, double[] dTop) = FlowMatrixReference.Compute(
                    new FlowMap(ReferenceMath.ToDouble(sb), batch, c1, sa, 1), new FlowMap(ReferenceMath.ToDouble(st), batch, c2, sa, 1),
                    new FlowMap(ReferenceMath.ToDouble(tb), batch, c1, ta, 1), new FlowMap(ReferenceMath.ToDouble(tt), batch, c2, ta, 1));
                return new Comparison(ErrorMeasure.Of(loss, expected, 0, Comparison.Relative),
                    ErrorMeasure.Of(gradient, [.. dBottom, .. dTop], 0, Comparison.Relative));
            });
        }
    }

    private static string Area(int area)
    {
        int side = (int)Math.Round(Math.Sqrt(area));
        return side * side == area
            ? string.Create(CultureInfo.InvariantCulture, $"{side}x{side}")
            : area.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// A student/teacher relation check: the loss to <see cref="Comparison.Relative"/> of itself or of
    /// <paramref name="lossFloor"/>, the gradient of its largest entry or (with <paramref name="rowNormFloor"/>) of
    /// 1 / (B^2 max ||s_i||), the size of its entries where the relations differ.
    /// </summary>
    private static KernelCheck PairCheck(string kernel, string shape, int batch, int studentWidth, int teacherWidth,
        double scale, float offset, bool small, Func<ComputeDevice, int, KernelLaunches.Pair> launcher,
        Func<double[], double[], int, int, int, (double Loss, double[] Gradient)> reference, double lossFloor,
        bool rowNormFloor) =>
        new(kernel, shape, small, (device, random) =>
        {
            float[] s = Uniform(random, (long)batch * studentWidth, scale);
            for (int i = 0; i < s.Length; i++) s[i] += offset;
            float[] t = Uniform(random, (long)batch * teacherWidth, 1);
            (double loss, float[] gradient) = KernelLaunches.RunPair(device, s, t, batch, launcher(device, batch));
            (double expected, double[] expectedGradient) = reference(ReferenceMath.ToDouble(s), ReferenceMath.ToDouble(t),
                batch, studentWidth, teacherWidth);
            double gradientFloor = rowNormFloor ? 1.0 / ((double)batch * batch * RelationalReferenceMath.MaxRowNorm(s, batch, studentWidth)) : 0;
            return new Comparison(ErrorMeasure.Of(loss, expected, lossFloor, Comparison.Relative),
                ErrorMeasure.Of(gradient, expectedGradient, gradientFloor, Comparison.Relative));
        });

    /// <summary>Values uniform in [-scale, scale].</summary>
    /// <param name="random">The source.</param>
    /// <param name="count">How many.</param>
    /// <param name="scale">Half-width of the range.</param>
    /// <returns>The values.</returns>
    public static float[] Uniform(Random random, long count, double scale)
    {
        ArgumentNullException.ThrowIfNull(random);
        var values = new float[count];
        for (long i = 0; i < count; i++) values[i] = (float)((random.NextDouble() * 2 - 1) * scale);
        return values;
    }

    // Last: static fields initialise in textual order, and the lists above must exist first.
    /// <summary>Every check, in the order the pass runs them.</summary>
    public static IReadOnlyList<KernelCheck> All { get; } = [.. RowChecks(), .. AttentionChecks(), .. RelationChecks()];
}
