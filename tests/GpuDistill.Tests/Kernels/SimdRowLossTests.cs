using GpuDistill.Kernels.Rows;
using GpuDistill.Compute.HostSimd;
using GpuDistill.Tests.Generic;

namespace GpuDistill.Tests.Kernels;

/// <summary>
/// The host SIMD backend of the row losses, straight through <see cref="HostSimdRowLoss.Run{THost, TLoss}"/>, against
/// the same float64 references, shapes, temperatures, scales, label modes and tolerances as the ILGPU kernel fixtures.
/// Every gradient buffer starts as NaN, so an element the backend forgets to write fails the comparison.
/// </summary>
public sealed class SimdRowLossTests
{
    public enum Loss { SoftmaxKL, ReverseKL, JensenShannon, DecoupledKD }

    private const double SoftWeight = 0.9, HardWeight = 0.1;
    private const double DkdAlpha = 1.5, DkdBeta = 8.0, DkdWarmup = 0.6;
    private static readonly double[] JsdBetas = [0.0, 0.1, 0.5, 0.9, 1.0];

    [Test, Combinatorial]
    public void MatchesReference(
        [Values] Loss loss,
        [Range(0, 4)] int shape,
        [Values(0.5, 1.0, 4.0, 20.0)] double temperature)
    {
        // Scales, label modes and JSD's betas run inside one case: each host call takes microseconds to milliseconds.
        (int rows, int classes) = RowKernelRun.Shapes[shape];
        foreach (double scale in new[] { 5.0, 1e4 })
        foreach (LabelMode labelMode in Enum.GetValues<LabelMode>())
        foreach (double beta in loss == Loss.JensenShannon ? JsdBetas : [0.5])
        {
            if (loss == Loss.DecoupledKD && labelMode == LabelMode.None) continue; // DKD always has labels
            Check(loss, rows, classes, temperature, scale, labelMode, beta);
        }
    }

    [Test]
    public void JensenShannonNearTheEndpointsMatchesReference([Values(1e-7, 1 - 1e-7)] double beta)
    {
        // Only the endpoints themselves are the KLs; next to them the mixture divergence goes to 0 continuously.
        foreach (double temperature in new[] { 0.5, 2.0 })
            Check(Loss.JensenShannon, 5, 40, temperature, 8, LabelMode.None, beta);
    }

    [Test]
    public void JensenShannonEndpointsAreExactlyTheHostKLs()
    {
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, 7 * 300, 6);
        float[] t = RandomData.Uniform(random, 7 * 300, 6);
        (double forward, float[] forwardGrad) = Run<HostSoftmaxKL, SoftmaxKLRow>(s, t, null, new SoftmaxKLRow(7, 300, 3f, 1f, 0f, false, -100, 7));
        (double reverse, float[] reverseGrad) = Run<HostReverseKL, ReverseKLRow>(s, t, null, new ReverseKLRow(7, 300, 3f, false, -100, 7));
        (double at0, float[] at0Grad) = Run<HostJensenShannon, JensenShannonRow>(s, t, null, new JensenShannonRow(7, 300, 3f, 0.0, false, -100, 7));
        (double at1, float[] at1Grad) = Run<HostJensenShannon, JensenShannonRow>(s, t, null, new JensenShannonRow(7, 300, 3f, 1.0, false, -100, 7));
        Assert.Multiple(() =>
        {
            // Same row functions, same order of operations: bit for bit.
            Assert.That(at0, Is.EqualTo(forward));
            Assert.That(at0Grad, Is.EqualTo(forwardGrad));
            Assert.That(at1, Is.EqualTo(reverse));
            Assert.That(at1Grad, Is.EqualTo(reverseGrad));
        });
    }

    [Test]
    public void OneHotStudentGivesExactlyZeroReverseKLGradient()
    {
        // q is one-hot in float32 and float64 alike, so the reference gradient is 0: r - KL must cancel exactly.
        float[] student = [9000, -8000, 1000, -3000, 7000, 500];
        float[] teacher = [-4000, 6000, 1234, 8000, -777, 5];
        (double loss, float[] gradient) = Run<HostReverseKL, ReverseKLRow>(student, teacher, null, new ReverseKLRow(2, 3, 0.5f, false, -100, 2));
        (double expected, _) = ReverseKLReference.Compute(student, teacher, 2, 3, 0.5);
        Tolerance.AssertLoss(loss, expected, Tolerance.SoftLossMagnitude(student, teacher, 0.5));
        Assert.That(gradient, Is.All.Zero);
    }

    [Test]
    public void ConfidentDkdTargetsStayFinite()
    {
        // 1 - p_g underflows float32 in row 0 (teacher) and row 1 (student); the softplus form stays exact.
        float[] student = [0, 1, -1, 0.5f, 200, 0, 1, -2];
        float[] teacher = [200, 0, 1, -1, 0, 3, 0, 1];
        int[] labels = [0, 0];
        (double expected, double[] expectedGradient) =
            DecoupledKDReference.Compute(student, teacher, 2, 4, labels, 1.0, DkdAlpha, DkdBeta, DkdWarmup);
        (double loss, float[] gradient) = Run<HostDecoupledKD, DecoupledKDRow>(student, teacher, labels,
            new DecoupledKDRow(2, 4, 1f, (float)DkdAlpha, (float)DkdBeta, (float)DkdWarmup, -100, 2));
        Assert.Multiple(() =>
        {
            Assert.That(double.IsFinite(expected), $"reference {expected}");
            Tolerance.AssertLoss(loss, expected, Tolerance.SoftLossMagnitude(student, teacher, 1.0, DkdWarmup * (DkdAlpha + DkdBeta)));
            Assert.That(Tolerance.RelativeMaxError(gradient, expectedGradient), Is.LessThan(Tolerance.Kernel), "gradient");
        });
    }

    [Test]
    public void IgnoredRowsGetNoLossAndZeroGradient([Values] Loss loss)
    {
        Random random = RandomData.NewRandom();
        float[] student = RandomData.Uniform(random, 4 * 6, 3);
        float[] teacher = RandomData.Uniform(random, 4 * 6, 3);
        (double value, float[] gradient) = Run(loss, student, teacher, [-100, -100, -100, -100], 4, 6, 2.0, 0.5);
        Assert.That(value, Is.Zero);
        Assert.That(gradient, Is.All.Zero);
    }

    [Test]
    public void LabelOutOfRangeGivesNaNRowLoss([Values] Loss loss)
    {
        // The bridge rejects such labels before calling; the backend must still not read out of bounds.
        float[] logits = [1, 2, 3, 4, 5, 6];
        (double value, _) = Run(loss, logits, logits, [0, 7], 2, 3, 1.0, 0.5);
        Assert.That(value, Is.NaN);
    }

    [Test]
    public void NonFiniteLogitsGiveNaNRowLoss(
        [Values] Loss loss,
        [Values(float.NaN, float.PositiveInfinity, float.NegativeInfinity)] float bad,
        [Values] bool inTeacher,
        [Values(0, 5, 17)] int column)
    {
        // The bridge turns a non-finite loss into an ArgumentException naming the tensor; column 0 is DKD's target,
        // 17 lies in the last, partial vector of the row.
        Random random = RandomData.NewRandom();
        float[] student = RandomData.Uniform(random, 2 * 19, 3);
        float[] teacher = RandomData.Uniform(random, 2 * 19, 3);
        (inTeacher ? teacher : student)[19 + column] = bad;
        float[] rowLoss = RunRows(loss, student, teacher, [0, 0], 2, 19, 2.0, 0.5);
        Assert.That(rowLoss[1], Is.NaN);
        Assert.That(float.IsFinite(rowLoss[0]), Is.True, "the other row is unaffected");
    }

    [Test]
    public void ParallelRowsMatchOneRowAtATime([Values] Loss loss)
    {
        // 96 x 1000 is above the parallel threshold; each row computed on its own (below it) must give the same bits.
        const int rows = 96, classes = 1000;
        Assert.That((long)rows * classes, Is.GreaterThan(HostRows.ParallelThreshold));
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, rows * classes, 6);
        float[] t = RandomData.Uniform(random, rows * classes, 6);
        int[] labels = RandomData.Labels(random, rows, classes, -100);
        labels[0] = 3;
        float[] whole = RunRows(loss, s, t, labels, rows, classes, 2.0, 0.5, out float[] wholeGrad);
        for (int i = 0; i < rows; i++)
        {
            float[] one = RunRows(loss, s[(i * classes)..((i + 1) * classes)], t[(i * classes)..((i + 1) * classes)],
                [labels[i]], 1, classes, 2.0, 0.5, out float[] oneGrad, counted: RowKernelRun.Counted(rows, labels));
            Assert.That(one[0], Is.EqualTo(whole[i]), $"row {i} loss");
            Assert.That(oneGrad, Is.EqualTo(wholeGrad[(i * classes)..((i + 1) * classes)]), $"row {i} gradient");
        }
    }

    [Test]
    public void RunRejectsSpansOfTheWrongLength()
    {
        var p = new SoftmaxKLRow(2, 3, 1f, 1f, 0f, false, -100, 2);
        var ex = Assert.Throws<ArgumentException>(() =>
            HostSimdRowLoss.Run<HostSoftmaxKL, SoftmaxKLRow>(new float[6], new float[5], [], new float[6], new float[2], p));
        Assert.That(ex!.ParamName, Is.EqualTo("teacher"));
        ex = Assert.Throws<ArgumentException>(() =>
            HostSimdRowLoss.Run<HostSoftmaxKL, SoftmaxKLRow>(new float[6], new float[6], new int[1], new float[6], new float[2],
                new SoftmaxKLRow(2, 3, 1f, 1f, 1f, true, -100, 2)));
        Assert.That(ex!.ParamName, Is.EqualTo("labels"));
    }

    private static void Check(Loss loss, int rows, int classes, double temperature, double scale, LabelMode labelMode, double beta)
    {
        Random random = RandomData.NewRandom();
        float[] student = RandomData.Uniform(random, (long)rows * classes, scale);
        float[] teacher = RandomData.Uniform(random, (long)rows * classes, scale);
        int[]? labels = RandomData.Labels(random, rows, classes, labelMode);
        int counted = Math.Max(1, RowKernelRun.Counted(rows, labels));

        (double expectedLoss, double[] expectedGradient, double magnitude, double naturalScale) = loss switch
        {
            Loss.SoftmaxKL => With(SoftmaxKLReference.Compute(student, teacher, rows, classes, temperature, labels, SoftWeight, HardWeight),
                Tolerance.SoftmaxLossMagnitude(student, teacher, temperature),
                Math.Max(SoftWeight * temperature, labels is null ? 0 : HardWeight) / counted),
            Loss.ReverseKL => With(ReverseKLReference.Compute(student, teacher, rows, classes, temperature, labels),
                Tolerance.SoftLossMagnitude(student, teacher, temperature), temperature / counted),
            Loss.JensenShannon => With(JensenShannonReference.Compute(student, teacher, rows, classes, temperature, beta, labels),
                Tolerance.SoftLossMagnitude(student, teacher, temperature),
                (beta is > 0 and < 1 ? 1 - beta : 1) * temperature / counted),
            _ => With(DecoupledKDReference.Compute(student, teacher, rows, classes, labels!, temperature, DkdAlpha, DkdBeta, DkdWarmup),
                Tolerance.SoftLossMagnitude(student, teacher, temperature, DkdWarmup * (DkdAlpha + DkdBeta)),
                DkdWarmup * (DkdAlpha + DkdBeta) * temperature / counted),
        };
        (double actualLoss, float[] gradient) = Run(loss, student, teacher, labels, rows, classes, temperature, beta);

        string what = $"{loss}, shape {rows}x{classes}, T {temperature}, scale {scale}, labels {labelMode}, beta {beta}";
        Assert.Multiple(() =>
        {
            Assert.That(actualLoss, Is.EqualTo(expectedLoss).Within(Tolerance.LossBound(expectedLoss, magnitude)), $"loss, {what}");
            Assert.That(Tolerance.RelativeMaxError(gradient, expectedGradient, Tolerance.GradientFloor(naturalScale)),
                Is.LessThan(Tolerance.Kernel), $"gradient, {what}");
        });
    }

    private static (double, double[], double, double) With((double Loss, double[] Gradient) reference, double magnitude,
        double naturalScale) => (reference.Loss, reference.Gradient, magnitude, naturalScale);

    private static (double Loss, float[] Gradient) Run(Loss loss, float[] student, float[] teacher, int[]? labels,
        int rows, int classes, double temperature, double beta)
    {
        float[] rowLoss = RunRows(loss, student, teacher, labels, rows, classes, temperature, beta, out float[] gradient);
        return (rowLoss.Sum(v => (double)v), gradient);
    }

    private static float[] RunRows(Loss loss, float[] student, float[] teacher, int[]? labels, int rows, int classes,
        double temperature, double beta) => RunRows(loss, student, teacher, labels, rows, classes, temperature, beta, out _);

    private static float[] RunRows(Loss loss, float[] student, float[] teacher, int[]? labels, int rows, int classes,
        double temperature, double beta, out float[] gradient, int? counted = null)
    {
        int n = counted ?? RowKernelRun.Counted(rows, labels);
        var t = (float)temperature;
        return loss switch
        {
            Loss.SoftmaxKL => RunRows<HostSoftmaxKL, SoftmaxKLRow>(student, teacher, labels, new SoftmaxKLRow(rows, classes, t, (float)SoftWeight,
                (float)HardWeight, labels is not null, -100, n), out gradient),
            Loss.ReverseKL => RunRows<HostReverseKL, ReverseKLRow>(student, teacher, labels, new ReverseKLRow(rows, classes, t, labels is not null, -100, n),
                out gradient),
            Loss.JensenShannon => RunRows<HostJensenShannon, JensenShannonRow>(student, teacher, labels, new JensenShannonRow(rows, classes, t, beta,
                labels is not null, -100, n), out gradient),
            _ => RunRows<HostDecoupledKD, DecoupledKDRow>(student, teacher, labels, new DecoupledKDRow(rows, classes, t, (float)DkdAlpha, (float)DkdBeta,
                (float)DkdWarmup, -100, n), out gradient),
        };
    }

    private static (double Loss, float[] Gradient) Run<THost, TLoss>(float[] student, float[] teacher, int[]? labels, TLoss p)
        where THost : struct, IHostRowLoss<THost, TLoss>
        where TLoss : unmanaged, IRowLoss
    {
        float[] rowLoss = RunRows<THost, TLoss>(student, teacher, labels, p, out float[] gradient);
        return (rowLoss.Sum(v => (double)v), gradient);
    }

    private static float[] RunRows<THost, TLoss>(float[] student, float[] teacher, int[]? labels, TLoss p, out float[] gradient)
        where THost : struct, IHostRowLoss<THost, TLoss>
        where TLoss : unmanaged, IRowLoss
    {
        gradient = Enumerable.Repeat(float.NaN, student.Length).ToArray();
        float[] rowLoss = Enumerable.Repeat(float.NaN, p.Rows).ToArray();
        HostSimdRowLoss.Run<THost, TLoss>(student, teacher, labels ?? [], gradient, rowLoss, p);
        return rowLoss;
    }
}
