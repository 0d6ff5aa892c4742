using GpuDistill.Compute;
using GpuDistill.Data;
using GpuDistill.Experiments;
using GpuDistill.Kernels;
using GpuDistill.Kernels.Rows;
using GpuDistill.Methods;
using GpuDistill.Models;
using GpuDistill.Tests.Generic;
using GpuDistill.Training;
using ILGPU.Runtime.Cuda;

namespace GpuDistill.Tests.Methods;

/// <summary>
/// A made-up row loss added as a user adds one (its kernel file <see cref="SquaredProbabilityRow"/>, its method file
/// <see cref="SquaredProbabilityTerm"/>, this test file and one registry line): the shared row kernels run it on
/// every accelerator against its float64 reference, it compiles for CUDA and OpenCL, it reaches autograd through
/// <see cref="GpuDistill.Losses.RowLoss{TLoss}"/>, and once registered the loss specs, built-in methods, recipes and the trainer
/// know it, with nothing else in the library edited.
/// </summary>
internal static class SquaredProbability
{
    /// <summary>The one registry line (idempotent: fixtures may run it more than once in a test run).</summary>
    public static void Register()
    {
        lock (MethodRegistry.Default)
        {
            if (!MethodRegistry.Default.Terms.Contains(SquaredProbabilityTerm.Info)) MethodRegistry.Default.Register(SquaredProbabilityTerm.Info);
        }
    }

    /// <summary>The float64 reference: (1/N) sum over counted rows of sum_c (q_c - p_c)^2, and its gradient.</summary>
    public static (double Loss, double[] Gradient) Reference(float[] student, float[] teacher, int rows, int classes,
        double temperature, int[]? labels) =>
        Reference([.. student.Select(v => (double)v)], [.. teacher.Select(v => (double)v)], rows, classes, temperature, labels);

    public static (double Loss, double[] Gradient) Reference(double[] student, double[] teacher, int rows, int classes,
        double temperature, int[]? labels)
    {
        int counted = RowKernelRun.Counted(rows, labels);
        var gradient = new double[student.Length];
        double loss = 0;
        for (int r = 0; r < rows; r++)
        {
            if (labels is not null && labels[r] == -100) continue;
            double[] q = Softmax(student, r, classes, temperature), p = Softmax(teacher, r, classes, temperature);
            double mean = 0;
            for (int c = 0; c < classes; c++)
            {
                loss += (q[c] - p[c]) * (q[c] - p[c]);
                mean += q[c] * (q[c] - p[c]);
            }
            for (int c = 0; c < classes; c++)
                gradient[(r * classes) + c] = 2 / (temperature * counted) * q[c] * ((q[c] - p[c]) - mean);
        }
        return (loss / Math.Max(1, counted), gradient);
    }

    public static double[] Softmax(double[] logits, int row, int classes, double temperature)
    {
        double max = double.NegativeInfinity;
        for (int c = 0; c < classes; c++) max = Math.Max(max, logits[(row * classes) + c] / temperature);
        double[] e = [.. Enumerable.Range(0, classes).Select(c => Math.Exp((logits[(row * classes) + c] / temperature) - max))];
        double sum = e.Sum();
        return [.. e.Select(v => v / sum)];
    }
}

[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.Kinds))]
public sealed class SquaredProbabilityKernelTests(AcceleratorKind kind) : AcceleratorTestBase(kind)
{
    [Test, Pairwise]
    public void MatchesReference(
        [Range(0, 4)] int shape,
        [Values(0.5, 4.0)] double temperature,
        [Values(5.0, 1e4)] double scale,
        [Values(RowLayout.RowPerThread, RowLayout.RowPerGroup)] RowLayout layout)
    {
        (int rows, int classes) = RowKernelRun.Shapes[shape];
        if (layout == RowLayout.RowPerGroup && classes > 100000) return; // the simulated barriers make it minutes long
        Random random = RandomData.NewRandom();
        float[] student = RandomData.Uniform(random, (long)rows * classes, scale);
        float[] teacher = RandomData.Uniform(random, (long)rows * classes, scale);
        int[] labels = RandomData.Labels(random, rows, classes, ignoreIndex: -100);
        int counted = RowKernelRun.Counted(rows, labels);
        var loss = new SquaredProbabilityRow(new RowBatch(rows, classes, true, counted, -100), temperature);
        (double actualLoss, float[] gradient) = RowKernelRun.Run(Device, Device.Kernels<RowLossLauncher<SquaredProbabilityRow>>(),
            student, teacher, labels, loss, layout);
        (double expectedLoss, double[] expectedGradient) = SquaredProbability.Reference(student, teacher, rows, classes, temperature, labels);
        // Each row's squared error is at most 2, so 2 is the loss's natural size; the gradient's is 2 / (T N).
        RowKernelRun.AssertMatches((actualLoss, gradient), (expectedLoss, expectedGradient), 2, 2 / temperature, counted,
            $"shape {rows}x{classes}, T {temperature}, scale {scale}, {layout}");
    }

    [Test]
    public void IgnoredRowsGetNoLossAndZeroGradient() =>
        RowKernelRun.AssertPaddingGivesNothing((s, t, y, rows, classes) => RowKernelRun.Run(Device,
            Device.Kernels<RowLossLauncher<SquaredProbabilityRow>>(), s, t, y,
            new SquaredProbabilityRow(new RowBatch(rows, classes, y is not null, RowKernelRun.Counted(rows, y), -100), 2.0),
            RowLayout.RowPerThread));
}

public sealed class SquaredProbabilityMethodTests
{
    [OneTimeSetUp] public void Register() => SquaredProbability.Register();

    [Test]
    public void ReferenceGradientMatchesFiniteDifferences()
    {
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, 3 * 5, 3), t = RandomData.Uniform(random, 3 * 5, 3);
        int[] labels = [1, -100, 4];
        double[] x = [.. s.Select(v => (double)v)], teacher = [.. t.Select(v => (double)v)];
        (_, double[] gradient) = SquaredProbability.Reference(x, teacher, 3, 5, 2.0, labels);
        FiniteDifferences.AssertGradient(z => SquaredProbability.Reference(z, teacher, 3, 5, 2.0, labels).Loss, x, gradient);
    }

    [Test]
    public void BridgeGivesTheReferenceGradientTimesUpstream(
        [Values(AcceleratorKind.Cpu, AcceleratorKind.Simd)] AcceleratorKind kind, [Values(0, 2, 4)] int shape)
    {
        ComputeDevice device = TestDevices.Get(kind);
        var loss = new RowLossUnderTest(
            (s, t, y, temperature) => GpuDistill.Losses.RowLoss(s, t, b => new SquaredProbabilityRow(b, temperature), y, device: device),
            SquaredProbability.Reference, (_, _, _) => 2, (temperature, _) => 2 / temperature);
        RowLossBridgeCheck.BackwardGivesReferenceGradientTimesUpstream(loss, shape, 2.0, LabelMode.LabelsWithIgnored);
    }

    [Test]
    public void CompilesForCudaAndOpenCL()
    {
        using var compiler = new OfflineCompiler();
        foreach (KernelEntry kernel in KernelCatalog.RowLossEntries(typeof(SquaredProbabilityRow)))
        {
            Assert.That(compiler.CompilePtx(kernel, CudaArchitecture.SM_90, CudaInstructionSet.ISA_88), Does.Contain(".entry"), kernel.Name);
            Assert.That(compiler.CompileOpenCL(kernel), Does.Contain("kernel void"), kernel.Name);
        }
    }

    [Test]
    public void RegisteredTermIsAMethodOfLossSpecsRecipesAndTheTrainer()
    {
        Assert.That(MethodRegistry.Default.Method("test-sqp").Loss, Is.EqualTo("test-sqp:1,ce:1"));
        Assert.That(LossSpec.Parse("test-sqp:0.5,ce:1").ToString(), Is.EqualTo("test-sqp:0.5,ce:1"));

        // A recipe names it as any built-in: its settings under its name, its loss as a spec.
        string directory = Directory.CreateTempSubdirectory("gpudistill-sqp-").FullName;
        try
        {
            string path = Path.Combine(directory, "recipe.json");
            File.WriteAllText(path, """
                { "methods": [ { "name": "mine", "loss": "test-sqp:1,ce:1" } ], "settings": { "test-sqp": { "temperature": 3 } } }
                """);
            Recipe recipe = RecipeLoader.Load(path);
            Assert.That(recipe.Settings.Get<TemperatureSettings>("test-sqp").Temperature, Is.EqualTo(3));
            Assert.That(RecipeLoader.ToJson(recipe), Does.Contain("\"test-sqp\""));

            (ImageDataset train, ImageDataset test) = FashionMnist.LoadEmbedded();
            train = train.StratifiedSample(10, 1, "sqp slice");
            test = test.StratifiedSample(5, 1, "sqp slice");
            using DistillModel teacher = ModelFactory.Create("small-cnn", 7);
            using TeacherOutputs outputs = TeacherOutputs.Create(teacher, train, cache: true);
            using DistillModel student = ModelFactory.Create("small-cnn", 8);
            TrainingRun run = new Trainer(new TrainingOptions { Epochs = 1, BatchSize = 50, Seed = 1 })
                .Fit("mine", student, recipe.Methods[0].Loss.Create(recipe.Settings), train, test, outputs, null, resume: false);
            Assert.That(run.Epochs[0].Terms.Keys, Is.EquivalentTo(new[] { "test-sqp", "ce" }));
            Assert.That(double.IsFinite(run.Epochs[0].Terms["test-sqp"]), Is.True);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
