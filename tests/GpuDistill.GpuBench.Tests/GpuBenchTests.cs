using System.Reflection;
using GpuDistill.GpuBench;
using GpuDistill.Compute;
using GpuDistill.Kernels;
using GpuDistill.Kernels.Rows;
using GpuDistill.Tests.Data;
using GpuDistill.Tests.Generic;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace GpuDistill.GpuBench.Tests;

/// <summary>
/// The GPU bundle's logic on the CPU accelerator, without publishing it: its self-check, the checks that catch a wrong
/// result, its device-side helpers, and one small end-to-end run of the benchmark mode.
/// </summary>
public sealed class GpuBenchTests
{
    private static ComputeDevice Cpu => TestDevices.Get(AcceleratorKind.Cpu);

    /// <summary>The row losses the bundle must cover: every case the references declare, one per built-in row loss.</summary>
    private static readonly string[] RowFamilies = [.. RowLossCase.All.Select(c => c.Family)];

    /// <summary>The kernel families the bundle must cover: every launcher family of GpuDistill.Kernels.</summary>
    private static readonly string[] Families =
        [.. RowFamilies, "at-loss", "at-map", "sp", "rkd-distance", "rkd-angle", "cc-repdistiller", "cc-kernel", "fsp"];

    [Test]
    public void SmallKernelChecksMatchTheReferencesOnTheCpuAccelerator()
    {
        using var log = new StringWriter();
        IReadOnlyList<KernelCheckResult> results = SelfCheck.Run(Cpu, RandomData.NewRandom().Next(), log, c => c.Small);
        TestContext.Out.Write(log);
        Assert.Multiple(() =>
        {
            Assert.That(results.Select(r => r.Check.Kernel).Distinct(), Is.EquivalentTo(Families));
            Assert.That(results, Has.Count.EqualTo(KernelChecks.All.Count(c => c.Small)));
            Assert.That(results.Where(r => !r.Passed).Select(r => r.ToString()), Is.Empty);
            Assert.That(results.Select(r => r.Comparison!.Gradient.MaxAbs), Is.All.GreaterThanOrEqualTo(0));
            Assert.That(log.ToString(), Does.Contain($"all {results.Count} PASS"));
        });
    }

    [Test]
    public void ChecksCoverEveryFamilyLayoutFormAndBatch()
    {
        IReadOnlyList<KernelCheck> all = KernelChecks.All;
        Assert.Multiple(() =>
        {
            Assert.That(all.Select(c => c.Kernel).Distinct(), Is.EquivalentTo(Families));
            Assert.That(RowFamilies, Is.EquivalentTo(new[] { "softmax-kl", "reverse-kl", "jsd", "dkd", "kl-both-sides", "probability-l1" }), "every built-in row loss has a case");
            Assert.That(RowFamilies, Has.Length.EqualTo(KernelCatalog.RowLosses.Count), "one case per row loss of GpuDistill.Kernels");
            foreach (string rows in RowFamilies)
            {
                foreach (string layout in new[] { "row/thread", "row/group" })
                foreach (string shape in new[] { "1x1 ", "41x1271 ", "3x100003 " })
                    Assert.That(all.Count(c => c.Kernel == rows && c.Case.Contains(layout, StringComparison.Ordinal)
                        && c.Case.StartsWith(shape, StringComparison.Ordinal)),
                        Is.EqualTo(2), $"{rows} {shape}{layout}: moderate and extreme logits");
            }
            foreach (string at in new[] { "at-loss", "at-map" })
            foreach (string form in new[] { " code ", " paper " })
                Assert.That(all.Count(c => c.Kernel == at && c.Case.Contains(form, StringComparison.Ordinal)), Is.EqualTo(6), at + form);
            foreach (string relation in new[] { "sp", "rkd-angle", "cc-kernel" })
            foreach (int batch in new[] { 1, 3, 37, 256 })
                Assert.That(all.Any(c => c.Kernel == relation && c.Case.StartsWith($"B={batch} ", StringComparison.Ordinal)), relation + batch);
            Assert.That(all.Any(c => c.Kernel == "fsp" && c.Case.StartsWith("3x5x7x7 / 3x9x7x7", StringComparison.Ordinal)));
            Assert.That(all.Select(c => c.ToString()).Distinct().Count(), Is.EqualTo(all.Count), "every case is named apart");
        });
    }

    [Test]
    public void CheckIsReplayableFromItsSeedAndAFailingLaunchIsAFailNotACrash()
    {
        KernelCheck check = KernelChecks.All.First(c => c.Kernel == "rkd-angle" && c.Case.StartsWith("B=37 ", StringComparison.Ordinal));
        KernelCheckResult first = SelfCheck.RunOne(Cpu, "cpu", check, 12345);
        KernelCheckResult again = SelfCheck.RunOne(Cpu, "cpu", check, 12345);
        KernelCheckResult other = SelfCheck.RunOne(Cpu, "cpu", check, 54321);
        var throwing = new KernelCheck("sp", "broken launcher", true, (_, _) => throw new ArgumentException("bad view", "student"));
        KernelCheckResult failed = SelfCheck.RunOne(Cpu, "cpu", throwing, 1);
        Assert.Multiple(() =>
        {
            Assert.That(first.Passed, first.ToString());
            Assert.That(again.Comparison, Is.EqualTo(first.Comparison), "same seed, same inputs, same errors");
            Assert.That(other.Comparison!.Output.MaxAbs, Is.Not.EqualTo(first.Comparison!.Output.MaxAbs), "another seed, other inputs");
            Assert.That(failed.Passed, Is.False);
            Assert.That(failed.ToString(), Does.Contain("FAIL (threw ArgumentException: bad view"));
            Assert.That(failed.CsvLine(), Does.Contain(",FAIL,").And.Contain("broken launcher"));
        });
    }

    [Test]
    public void ErrorMeasureUsesItsFloorAndNeverPassesNaN()
    {
        Assert.Multiple(() =>
        {
            Assert.That(ErrorMeasure.Of(1.00001, 1.0, 0, 2e-5).Passed, Is.True);
            Assert.That(ErrorMeasure.Of(1.0001, 1.0, 0, 2e-5).Passed, Is.False);
            // A vanishing exact value is measured against the floor: 1e-9 off 0 passes at a floor of 1e-3.
            Assert.That(ErrorMeasure.Of(1e-9, 0.0, 1e-3, 2e-5).Passed, Is.True);
            Assert.That(ErrorMeasure.Of(1e-9, 0.0, 0, 2e-5).Passed, Is.False);
            Assert.That(ErrorMeasure.Of(double.NaN, 1.0, 0, 2e-5).Passed, Is.False);
            Assert.That(ErrorMeasure.Of([1f, float.NaN], [1.0, 2.0], 0, 2e-5).Passed, Is.False);
            Assert.That(ErrorMeasure.Of([1f, 2.001f], [1.0, 2.0], 0, 2e-5).Relative, Is.EqualTo(0.001 / 2).Within(1e-7));
        });
        ArgumentAssert.Rejects(() => ErrorMeasure.Of([1f], [1.0, 2.0], 0, 2e-5), "actual", "expected 2");
    }

    [Test]
    public void SelfCheckOnlyModeExitsZeroOnTheCpu()
    {
        using var log = new StringWriter();
        BenchOptions options = BenchOptions.Parse(["--self-check", "--device", "cpu", "--seed", "7", "--checks", "fsp,cc-kernel"]);
        Assert.That(BundleRun.SelfCheckOnly(options, log), Is.EqualTo(BundleRun.Success), log.ToString());
        Assert.That(log.ToString(), Does.Contain("fsp").And.Contain("cc-kernel").And.Not.Contain("softmax-kl"));
    }

    [Test]
    public void ComparisonRejectsAWrongGradientOrLoss()
    {
        Random random = RandomData.NewRandom();
        const int rows = 5, classes = 37;
        float[] student = RandomData.Uniform(random, rows * classes, 4);
        float[] teacher = RandomData.Uniform(random, rows * classes, 4);
        (double loss, double[] gradient) = SoftmaxKLReference.Compute(student, teacher, rows, classes, 2.0);
        float[] rounded = Array.ConvertAll(gradient, v => (float)v);
        double magnitude = Comparison.LossMagnitude(student, teacher, 2.0);
        const double scale = 2.0 / rows;

        Comparison Check(double l, float[] g) => Comparison.Of(l, g, loss, gradient, magnitude, scale);

        float[] perturbed = (float[])rounded.Clone();
        int worst = Array.IndexOf(rounded, rounded.MaxBy(Math.Abs));
        perturbed[worst] *= 1.001f;
        float[] withNaN = (float[])rounded.Clone();
        withNaN[^1] = float.NaN;
        Assert.Multiple(() =>
        {
            Assert.That(Check(loss, rounded).Passed, Is.True, "the reference rounded to float32 passes");
            Assert.That(Check(loss, perturbed).Passed, Is.False, "a 1e-3 relative error in one entry");
            Assert.That(Check(loss, withNaN).Passed, Is.False, "a NaN gradient entry");
            Assert.That(Check(loss * (1 + 1e-3) + 1e-3, rounded).Passed, Is.False, "a wrong loss");
            Assert.That(Check(double.NaN, rounded).Passed, Is.False, "a NaN loss");
        });
        ArgumentAssert.Rejects(() => Comparison.Of(loss, rounded.AsSpan(1), loss, gradient, magnitude, scale),
            "gradient", "expected");
    }

    [Test]
    public void SampledRowCheckPassesForTheKernelAndCatchesACorruptedLastRow()
    {
        ComputeDevice device = Cpu;
        Accelerator accelerator = device.Accelerator;
        var size = new BenchSize(5, 701);
        var fill = new BenchLauncher(accelerator);
        using var s = accelerator.Allocate1D<float>(size.Elements);
        using var t = accelerator.Allocate1D<float>(size.Elements);
        using var g = accelerator.Allocate1D<float>(size.Elements);
        using var r = accelerator.Allocate1D<float>(size.Rows);
        fill.Uniform(s.View, 3, BenchSettings.LogitScale);
        fill.Uniform(t.View, 4, BenchSettings.LogitScale);
        var p = new SoftmaxKLRow(size.Rows, size.Classes, BenchSettings.Temperature, 1f, 0f, false, -100, size.Rows);
        device.Kernels<RowLossLauncher<SoftmaxKLRow>>().Launch(s.View, t.View, default, g.View, r.View, p, RowLayout.RowPerThread);
        accelerator.Synchronize();
        Comparison good = FusedKLBenchmark.CheckSampledRows(size, s.View, t.View, g.View, r.View);

        // The very last element: a launch that stopped short of the end would leave it wrong.
        float[] last = [0f];
        g.View.SubView(size.Elements - 1, 1).CopyToCPU(ref last[0], 1);
        last[0] += 1e-3f;
        g.View.SubView(size.Elements - 1, 1).CopyFromCPU(ref last[0], 1);
        Comparison bad = FusedKLBenchmark.CheckSampledRows(size, s.View, t.View, g.View, r.View);
        Assert.Multiple(() =>
        {
            Assert.That(good.Passed, Is.True, good.ToString());
            Assert.That(bad.Passed, Is.False, bad.ToString());
        });
    }

    [Test]
    public void UniformFillMatchesTheHostFormula()
    {
        Accelerator accelerator = Cpu.Accelerator;
        const int count = 10_007;
        const float scale = 3f;
        using var data = accelerator.Allocate1D<float>(count);
        new BenchLauncher(accelerator).Uniform(data.View, 42, scale);
        accelerator.Synchronize();
        float[] values = data.GetAsArray1D();
        float[] expected = Enumerable.Range(0, count).Select(i => BenchKernels.UniformAt(i, 42, scale)).ToArray();
        Assert.Multiple(() =>
        {
            Assert.That(values, Is.EqualTo(expected));
            Assert.That(values, Is.All.InRange(-scale, scale));
            // Uniform on [-3, 3): mean 0, standard deviation sqrt(3) (loose bounds, 10k samples).
            Assert.That(values.Average(), Is.InRange(-0.1, 0.1));
            Assert.That(Math.Sqrt(values.Average(v => (double)v * v)), Is.InRange(1.65, 1.81));
            Assert.That(BenchKernels.UniformAt(5, 1, scale), Is.Not.EqualTo(BenchKernels.UniformAt(5, 2, scale)), "seeds differ");
        });
    }

    [Test]
    public void StreamingFloorSubtracts()
    {
        Accelerator accelerator = Cpu.Accelerator;
        using var a = accelerator.Allocate1D(new float[] { 1, 2, 3, 4, 5 });
        using var b = accelerator.Allocate1D(new float[] { 5, 4, 3, 2, 1 });
        using var c = accelerator.Allocate1D<float>(5);
        using var shorter = accelerator.Allocate1D<float>(4);
        var launcher = new BenchLauncher(accelerator);
        launcher.Subtract(a.View, b.View, c.View);
        accelerator.Synchronize();
        Assert.That(c.GetAsArray1D(), Is.EqualTo(new float[] { -4, -2, 0, 2, 4 }));
        ArgumentAssert.Rejects(() => launcher.Subtract(a.View, shorter.View, c.View), "b", "expected 5");
    }

    [TestCase(nameof(BenchKernels.Uniform))]
    [TestCase(nameof(BenchKernels.Subtract))]
    public void BenchKernelsCompileToPtxForSm90(string name)
    {
        // The bundle's own kernels are not in KernelCatalog (that scans GpuDistill.Kernels), so they are compiled here.
        MethodInfo method = typeof(BenchKernels).GetMethod(name)!;
        using var compiler = new OfflineCompiler();
        string ptx = compiler.CompilePtx(new KernelEntry($"BenchKernels.{name}", method, false),
            CudaArchitecture.SM_90, CudaInstructionSet.ISA_88);
        Assert.That(ptx, Does.Contain(".entry").And.Contain(".target sm_80"));
    }

    [Test]
    public void BenchmarkModeRunsEndToEndOnTheCpuAccelerator()
    {
        using var folder = new TempDirectory();
        using var log = new StringWriter();
        BenchOptions options = BenchOptions.Parse(
            ["--device", "cpu", "--sizes", "16x500,3x4001", "--quick", "--copy-mb", "4", "--out", folder.Path,
             "--checks", "sp", "--relations", "smoke"]);
        int exit = BundleRun.Benchmark(options, log);
        TestContext.Out.Write(log);
        Assert.That(exit, Is.EqualTo(BundleRun.Success), log.ToString());

        string[] lines = File.ReadAllLines(folder.File("gpu-bench.csv"));
        string[] header = lines[0].Split(',');
        List<Dictionary<string, string>> rows = lines.Skip(1)
            .Select(l => header.Zip(SplitCsv(l)).ToDictionary(p => p.First, p => p.Second)).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(lines[0], Is.EqualTo(BenchReport.CsvHeader));
            Assert.That(rows.Count(r => r["kind"] == "copy"), Is.EqualTo(1));
            Assert.That(rows.Count(r => r["kind"] == "floor"), Is.EqualTo(2));
            foreach (string size in new[] { "16x500", "3x4001" })
            {
                var fused = rows.Where(r => r["kind"] == "fused-kl" && r["size"] == size).ToList();
                Assert.That(fused.Select(r => r["layout"]), Is.EquivalentTo(new[] { "row/thread", "row/group" }), size);
                Assert.That(fused.Count(r => r["best"] == "1"), Is.EqualTo(1), size);
                Assert.That(fused.Select(r => r["check"]), Is.All.EqualTo("ok"), size);
                Assert.That(fused.Select(r => double.Parse(r["median_ms"], System.Globalization.CultureInfo.InvariantCulture)),
                    Is.All.Positive, size);
                // 20 bytes per element, as the table states.
                Assert.That(fused.Select(r => r["bytes"]), Is.All.EqualTo((new BenchSize(
                    int.Parse(size.Split('x')[0], System.Globalization.CultureInfo.InvariantCulture),
                    int.Parse(size.Split('x')[1], System.Globalization.CultureInfo.InvariantCulture)).Elements * 20)
                    .ToString(System.Globalization.CultureInfo.InvariantCulture)), size);
            }
            Assert.That(log.ToString(), Does.Contain("copy bandwidth").And.Contain("best layout").And.Contain("3x4001"));
        });

        string[] checks = File.ReadAllLines(folder.File("checks.csv"));
        string[] relations = File.ReadAllLines(folder.File("relations.csv"));
        Assert.Multiple(() =>
        {
            Assert.That(checks[0], Is.EqualTo(KernelCheckResult.CsvHeader));
            Assert.That(checks.Skip(1).Select(l => l.Split(',')[1]), Is.All.EqualTo("sp"));
            Assert.That(checks.Skip(1).Select(l => SplitCsv(l).ElementAt(10)), Is.All.EqualTo("PASS"));
            Assert.That(relations[0], Is.EqualTo(RelationBenchmark.CsvHeader));
            Assert.That(relations.Skip(1).Select(l => SplitCsv(l).ElementAt(1)),
                Is.EqualTo(RelationCase.Smoke.Select(c => c.Kernel)));
            // Timed, finite loss, and the scratch the launchers allocate.
            foreach (string line in relations.Skip(1))
            {
                string[] f = SplitCsv(line).ToArray();
                Assert.That(double.Parse(f[3], System.Globalization.CultureInfo.InvariantCulture), Is.Positive, line);
                Assert.That(double.IsFinite(double.Parse(f[11], System.Globalization.CultureInfo.InvariantCulture)), line);
                Assert.That(long.Parse(f[10], System.Globalization.CultureInfo.InvariantCulture),
                    Is.EqualTo(RelationBenchmark.ScratchBytes(new RelationCase(f[1], f[2]))), line);
            }
            Assert.That(log.ToString(), Does.Contain("relation and attention-transfer kernels").And.Contain("rkd-angle"));
        });
    }

    [Test]
    public void ScratchBytesFollowTheLaunchers()
    {
        Assert.Multiple(() =>
        {
            Assert.That(RelationBenchmark.ScratchBytes(new RelationCase("sp", "1024x4096")), Is.EqualTo(4L * 3 * 1024 * 1024));
            Assert.That(RelationBenchmark.ScratchBytes(new RelationCase("rkd-distance", "256x512")), Is.EqualTo(4L * (4 * 256 * 256 + 3 * 256)));
            Assert.That(RelationBenchmark.ScratchBytes(new RelationCase("rkd-angle", "256x512")),
                Is.EqualTo(GpuDistill.Kernels.Relations.RelationalAngle.RelationalAngleLauncher.ScratchBytes(256, 512, 512)));
            Assert.That(RelationBenchmark.ScratchBytes(new RelationCase("fsp", "64x64x128x16x16")), Is.EqualTo(4L * 2 * 64 * 64 * 128));
            Assert.That(RelationBenchmark.ScratchBytes(new RelationCase("at-loss", "8x512x56x56")), Is.EqualTo(4L * 3 * 8 * 56 * 56));
        });
        ArgumentAssert.Rejects(() => RelationBenchmark.ScratchBytes(new RelationCase("nst", "2x3")), "c", "not a timed kernel");
    }

    [Test]
    public void SizeThatDoesNotFitOrComesTooLateIsSkippedWithTheReason()
    {
        var settings = new BenchSettings([new BenchSize(1000, 1000)], MemoryLimitBytes: 1L << 20);
        using var log = new StringWriter();
        IReadOnlyList<SizeResult> results = FusedKLBenchmark.Run(Cpu, settings, log);
        Assert.Multiple(() =>
        {
            Assert.That(results.Single().Skipped, Is.EqualTo("needs 12.0 MB for student, teacher and gradient; 1.0 MB free"));
            Assert.That(results.Single().Layouts, Is.Empty);
            Assert.That(log.ToString(), Does.Contain("skipped"));
        });
        var late = new BenchSettings([new BenchSize(2, 3)], TimeLimitSeconds: -1);
        Assert.That(FusedKLBenchmark.Run(Cpu, late, log).Single().Skipped, Does.Contain("time limit"));
        Assert.That(FusedKLBenchmark.RequiredBytes(new BenchSize(16384, 131072)), Is.EqualTo(3L * 16384 * 131072 * 4 + 16384 * 4));
    }

    [Test]
    public void BenchmarkModeWithoutCudaSaysSoAndExitsThree()
    {
        if (ComputeDevice.ListDevices().Any(d => d.Kind == AcceleratorKind.Cuda))
            Assert.Ignore("a CUDA device is present");
        using var log = new StringWriter();
        int exit = BundleRun.Benchmark(BenchOptions.Parse([]), log);
        Assert.Multiple(() =>
        {
            Assert.That(exit, Is.EqualTo(BundleRun.NoCuda));
            Assert.That(log.ToString(), Does.Contain("No CUDA device").And.Contain("--self-check"));
        });
    }

    [Test]
    public void OptionsRejectBadValuesNamingTheOption()
    {
        ArgumentAssert.Rejects(() => BenchOptions.Parse(["--sizes", "0x5"]), "--sizes", "ROWSxCLASSES");
        ArgumentAssert.Rejects(() => BenchOptions.Parse(["--sizes", "4096"]), "--sizes", "ROWSxCLASSES");
        ArgumentAssert.Rejects(() => BenchOptions.Parse(["--device", "tpu"]), "--device", "expected cpu or cuda");
        ArgumentAssert.Rejects(() => BenchOptions.Parse(["--seed"]), "--seed", "needs a value");
        ArgumentAssert.Rejects(() => BenchOptions.Parse(["--copy-mb", "0"]), "--copy-mb", "positive");
        ArgumentAssert.Rejects(() => BenchOptions.Parse(["--fast"]), "args", "unknown option");
        ArgumentAssert.Rejects(() => BenchOptions.Parse(["--checks", "sp,nst"]), "--checks", "'nst' is not a kernel family");
        ArgumentAssert.Rejects(() => BenchOptions.Parse(["--relations", "some"]), "--relations", "default, smoke or none");
        Assert.That(BenchOptions.Parse(["--quick"]).Sizes, Is.EqualTo(BenchSize.Quick));
        Assert.That(BenchSize.Quick.Max(s => s.Elements), Is.LessThan(500_000_000L), "--quick keeps the biggest KL sizes out");
        Assert.That(BenchOptions.Parse(["--checks", "none"]).Checks, Is.Empty);
        Assert.That(BenchOptions.Parse(["--relations", "none"]).Relations, Is.Empty);
        BenchOptions parsed = BenchOptions.Parse(["--sizes", "2x3, 4X5", "--seed", "9"]);
        Assert.That(parsed.Sizes, Is.EqualTo(new[] { new BenchSize(2, 3), new BenchSize(4, 5) }));
        Assert.That(BenchOptions.Parse([]).Sizes[^1], Is.EqualTo(new BenchSize(16384, 131072)));
    }

    private static IEnumerable<string> SplitCsv(string line)
    {
        // Quoted fields may hold commas; doubled quotes are literal quotes.
        var field = new System.Text.StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char ch = line[i];
            if (quoted && ch == '"' && i + 1 < line.Length && line[i + 1] == '"') { field.Append('"'); i++; }
            else if (ch == '"') quoted = !quoted;
            else if (ch == ',' && !quoted) { yield return field.ToString(); field.Clear(); }
            else field.Append(ch);
        }
        yield return field.ToString();
    }
}
