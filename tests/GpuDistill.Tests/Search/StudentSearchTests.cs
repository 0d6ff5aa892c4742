using GpuDistill.Data;
using GpuDistill.Deployment;
using GpuDistill.Experiments;
using GpuDistill.Models;
using GpuDistill.Search;
using GpuDistill.Tests.Deployment;
using GpuDistill.Tests.Experiments;
using GpuDistill.Training;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Search;

/// <summary>
/// The student search: architecture names build the shapes they say (and the factory knows them), searched CNNs
/// export to ONNX, mutation moves one gene, a budget nothing meets is an error naming the smallest candidate's cost,
/// and a tiny search keeps every candidate within budget and writes its files.
/// </summary>
public sealed class StudentSearchTests() : TrainingFixture(20, 10)
{
    [Test]
    public void NamesBuildTheShapesTheySay()
    {
        using DistillModel small = ModelFactory.Create("small-cnn", 1);
        using DistillModel same = ModelFactory.Create("cnn-8x2k3-16x2k3-32x2k3", 1);
        Assert.That(same.ParameterCount, Is.EqualTo(small.ParameterCount).And.EqualTo(18_482));
        Assert.That(same.state_dict().Keys, Is.EqualTo(small.state_dict().Keys), "the same layer paths as the zoo's CNNs");

        using DistillModel deep = ModelFactory.Create("cnn-4x1k5-8x3k3-16x1k3", 1);
        // Convolutions: 1*4*25, 4*8*9 + 2*8*8*9, 8*16*9; BN 2 per channel; head 16*10 + 10.
        long expected = 100 + (288 + 1152) + 1152 + 2 * (4 + 3 * 8 + 16) + 170;
        Assert.That(deep.ParameterCount, Is.EqualTo(expected));
        Assert.That(deep.Architecture, Is.EqualTo("cnn-4x1k5-8x3k3-16x1k3"));

        using DistillModel mlp = ModelFactory.Create("mlp-32-16", 1);
        Assert.That(mlp.ParameterCount, Is.EqualTo(784 * 32 + 32 + 32 * 16 + 16 + 16 * 10 + 10));
        Assert.That(StudentArchitecture.TryParse("cnn-8x2k3-16x2k3")?.Name, Is.Null);
        Assert.Throws<ArgumentOutOfRangeException>(() => ModelFactory.Create("cnn-8x2k4-16x2k3-32x2k3", 1).Dispose());
        Assert.Throws<ArgumentOutOfRangeException>(() => ModelFactory.Create("cnn-8x0k3-16x2k3-32x2k3", 1).Dispose());
    }

    [TestCase("cnn-6x1k5-12x3k3-24x2k5")]
    [TestCase("cnn-6x1k3-12x2s3-24x2s5")] // depthwise-separable stages: the convolutions' group attribute
    public void ASearchedCnnExportsAndRunsInOnnxRuntime(string architecture)
    {
        string path = OnnxTestFiles.NewPath();
        try
        {
            using DistillModel model = ModelFactory.Create(architecture, 3);
            model.eval();
            using ImageBatch batch = new ImageBatcher(Test, 20).Epoch(0).First();
            using var scope = NewDisposeScope();
            Tensor images = batch.Images;
            Tensor expected = model.ForwardLogits(images);
            Export.ToOnnx(model, path);
            Assert.That(OnnxTestFiles.RelativeMaxError(OnnxTestFiles.RunOnnx(path, images), expected), Is.LessThan(1e-5));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public void SeparableStagesBuildTheShapesTheirNamesSay()
    {
        using DistillModel hybrid = ModelFactory.Create("cnn-12x2k3-24x2k3-72x2s3", 1);
        // Dense stages: 1*12*9 + 12*12*9, 12*24*9 + 24*24*9; separable stage 3: depthwise 24*9, pointwise 24*72,
        // depthwise 72*9, pointwise 72*72; BN 2 per channel of each convolution; head 72*10 + 10. (PyTorch's count of
        // the same network: 18,310.)
        long convolutions = 108 + 1296 + 2592 + 5184 + 216 + 1728 + 648 + 5184;
        long norms = 2 * (12 + 12 + 24 + 24 + 24 + 72 + 72 + 72);
        Assert.That(hybrid.ParameterCount, Is.EqualTo(convolutions + norms + 730).And.EqualTo(18_310));
        Assert.That(hybrid.Description, Does.Contain("depthwise-separable stage 3"));

        // A separable first stage keeps its convolution from the one-channel image dense: 1*4*9, then 4*9 + 4*4.
        using DistillModel first = ModelFactory.Create("cnn-4x2s3-8x1k3-16x1k3", 1);
        Assert.That(first.ParameterCount, Is.EqualTo(36 + 36 + 16 + 288 + 1152 + 2 * (4 + 4 + 4 + 8 + 16) + 170));

        StudentArchitecture parsed = StudentArchitecture.TryParse("cnn-12x2s3-24x1k3-48x2s5")!;
        Assert.That(parsed.Name, Is.EqualTo("cnn-12x2s3-24x1k3-48x2s5"));
        Assert.That(Enumerable.Range(0, 3).Select(parsed.IsSeparable), Is.EqualTo(new[] { true, false, true }));
        Assert.That(StudentArchitecture.Cnn([8, 16, 32], [2, 2, 2], [3, 3, 3], [false, false, false]).Name, Is.EqualTo("cnn-8x2k3-16x2k3-32x2k3"));
        Assert.That(StudentArchitecture.TryParse("cnn-8x2x3-16x2k3-32x2k3"), Is.Null);
        Assert.That(ModelFactory.IsKnown("cnn-8x2s4-16x2k3-32x2k3"), Is.False, "an even kernel does not build, separable or not");
    }

    [Test]
    public void TheSeparableSpaceDrawsAndMutatesSeparableStages()
    {
        SearchSpace space = SearchSpace.WithSeparable;
        var random = new Random(7);
        StudentArchitecture[] drawn = [.. Enumerable.Range(0, 40).Select(_ => space.Sample(random))];
        Assert.That(drawn.Any(a => a.Separable.Count > 0) && drawn.Any(a => a.Separable.Count == 0), Is.True, "both kinds drawn");
        int toggles = 0;
        foreach (StudentArchitecture parent in drawn)
        {
            StudentArchitecture child = space.Mutate(parent, random);
            int flipped = Enumerable.Range(0, 3).Count(i => parent.IsSeparable(i) != child.IsSeparable(i));
            int moved = parent.Widths.Zip(child.Widths).Count(p => p.First != p.Second)
                + parent.Depths.Zip(child.Depths).Count(p => p.First != p.Second) + parent.Kernels.Zip(child.Kernels).Count(p => p.First != p.Second);
            Assert.That(flipped + moved, Is.LessThanOrEqualTo(1), $"{parent} -> {child}");
            toggles += flipped;
            Assert.That(ModelFactory.IsKnown(child.Name), Is.True, child.Name);
        }
        Assert.That(toggles, Is.GreaterThan(0), "some mutations switch a stage between dense and separable");
        Assert.That(Enumerable.Range(0, 40).Select(_ => new SearchSpace().Sample(random)).All(a => a.Separable.Count == 0), Is.True,
            "the default space stays dense");
        Assert.Throws<ArgumentException>(() => (new SearchSpace() with { SeparableChoices = [] }).Validate());
    }

    [Test]
    public void MutationMovesOneGeneWithinTheSpace()
    {
        var space = new SearchSpace { Families = [ArchitectureFamily.Cnn, ArchitectureFamily.Mlp] };
        var random = new Random(4);
        for (int i = 0; i < 50; i++)
        {
            StudentArchitecture parent = space.Sample(random), child = space.Mutate(parent, random);
            int changed = parent.Widths.Zip(child.Widths).Count(p => p.First != p.Second)
                + parent.Depths.Zip(child.Depths).Count(p => p.First != p.Second) + parent.Kernels.Zip(child.Kernels).Count(p => p.First != p.Second);
            Assert.That(changed, Is.LessThanOrEqualTo(1), $"{parent} -> {child}");
            Assert.That(child.Family, Is.EqualTo(parent.Family));
            if (child.Family == ArchitectureFamily.Cnn)
                Assert.That(child.Widths.Select((w, s) => space.StageWidths[s].Contains(w)).All(x => x), Is.True, child.Name);
        }
    }

    [Test]
    public void ABudgetNoCandidateMeetsNamesTheSmallestCandidatesCost()
    {
        long smallest = StudentArchitecture.Cnn([4, 8, 16], [1, 1, 1], [3, 3, 3]).ParameterCount();
        var ex = Assert.Throws<ArgumentException>(() => StudentSearch.CheckBudget(new SearchOptions { BudgetParameters = 500 }, RunDirectory));
        Assert.That(ex!.ParamName, Is.EqualTo("budgetParameters"));
        Assert.That(ex.Message, Does.Contain("cnn-4x1k3-8x1k3-16x1k3").And.Contain($"{smallest:N0}"));

        ex = Assert.Throws<ArgumentException>(() => StudentSearch.CheckBudget(
            new SearchOptions { BudgetParameters = 100_000, BudgetMilliseconds = 1e-9, LatencyRepeats = 3 }, RunDirectory));
        Assert.That(ex!.ParamName, Is.EqualTo("budgetMilliseconds"));
        Assert.That(ex.Message, Does.Contain("cnn-4x1k3-8x1k3-16x1k3").And.Contain("ms"));
        Assert.Throws<ArgumentOutOfRangeException>(() => StudentSearch.CheckBudget(new SearchOptions { BudgetParameters = 0 }, RunDirectory));
    }

    [Test]
    public void ATinySearchKeepsWithinBudgetAndWritesItsFiles()
    {
        SearchResult result = TinySearch(new SearchOptions { Generations = 1 });

        Assert.That(result.Candidates, Has.Count.EqualTo(3 + 2));
        Assert.That(result.Candidates.Select(c => c.Architecture).Distinct().Count(), Is.EqualTo(5), "no candidate trained twice");
        Assert.That(result.Candidates.All(c => c.Parameters <= 12_000 && c.MillisecondsBatch1 > 0), Is.True);
        Assert.That(result.Candidates.Select(c => ModelFactory.Create(c.Architecture, 0)).Select(m => { using (m) return m.ParameterCount; }),
            Is.EqualTo(result.Candidates.Select(c => c.Parameters)), "the recorded cost is the built model's");
        Assert.That(result.Winner.ValidationAccuracy, Is.EqualTo(result.Candidates.Max(c => c.ValidationAccuracy)));
        Assert.That(result.ParetoFront(c => c.Parameters), Does.Contain(result.Winner));
        foreach (string file in new[] { "candidates.csv", "search.md", "search.json", "pareto.png", "winner-recipe.json" })
            Assert.That(File.Exists(Path.Combine(RunDirectory, file)), file);
        Recipe winner = RecipeLoader.Load(Path.Combine(RunDirectory, "winner-recipe.json"));
        Assert.That(winner.Students, Does.Contain(result.Winner.Architecture));
        Assert.That(winner.Methods.Select(m => m.Name), Is.EqualTo(new[] { "none", "kd" }));
        Assert.That(SearchReport.Plot(result).Subplots.Count, Is.EqualTo(2), "pareto.png: the two panels and no blank one");
    }

    [Test]
    public void ABudgetShareKeepsTheCandidatesInItsBand()
    {
        SearchResult result = TinySearch(new SearchOptions { Generations = 1, MinimumBudgetShare = 0.6 });

        Assert.That(result.Candidates, Is.Not.Empty);
        Assert.That(result.Candidates.Select(c => c.Parameters), Is.All.InRange(7_200L, 12_000L), "between 60% of the budget and the budget");
        Assert.That(result.Rejected, Is.GreaterThan(0), "draws below the band are rejected, not trained");
        Assert.That(File.ReadAllText(Path.Combine(RunDirectory, "search.md")), Does.Contain("candidates below 60% of it rejected"));
        Assert.Throws<ArgumentOutOfRangeException>(new SearchOptions { BudgetParameters = 12_000, MinimumBudgetShare = 1 }.Validate);
        Assert.Throws<ArgumentOutOfRangeException>(new SearchOptions { BudgetParameters = 12_000, MinimumBudgetShare = -0.1 }.Validate);
    }

    [Test]
    public void AFinalRoundRetrainsTheBestAndTheBestFinalistWins()
    {
        SearchResult result = TinySearch(new SearchOptions { Generations = 0, Finalists = 2, FinalistEpochs = 2 });

        SearchCandidate[] finalists = [.. result.Candidates.Where(c => c.FinalistAccuracy is not null)];
        Assert.That(finalists, Has.Length.EqualTo(2));
        double cut = result.Candidates.Select(c => c.ValidationAccuracy).OrderDescending().ElementAt(1);
        Assert.That(finalists.All(c => c.ValidationAccuracy >= cut), Is.True, "the finalists are the best of the short trainings");
        Assert.That(result.Winner.FinalistAccuracy, Is.EqualTo(finalists.Max(c => c.FinalistAccuracy)));
        Assert.That(File.ReadAllText(Path.Combine(RunDirectory, "search.md")), Does.Contain("best 2 trained again for 2 epochs"));
        string[] csv = File.ReadAllLines(Path.Combine(RunDirectory, "candidates.csv"));
        Assert.That(csv[0], Does.EndWith(",finalist_accuracy"));
        Assert.That(csv.Skip(1).Count(line => !line.EndsWith(',')), Is.EqualTo(2), "a finalist accuracy on the finalists' rows only");
    }

    [TestCase(-1, 0)]
    [TestCase(2, 1)]
    public void AFinalRoundNeedsALongerTraining(int finalists, int finalistEpochs)
    {
        var options = new SearchOptions { BudgetParameters = 12_000, Epochs = 1, Finalists = finalists, FinalistEpochs = finalistEpochs };
        var ex = Assert.Throws<ArgumentOutOfRangeException>(options.Validate);
        Assert.That(ex!.ParamName, Is.EqualTo(finalists < 0 ? "Finalists" : "FinalistEpochs"));
    }

    /// <summary>
    /// A search of 3 first candidates under 12,000 parameters, 1 epoch each, guided by a small CNN trained 1 epoch,
    /// with <paramref name="rounds"/>' generations and final round; its files written to the run directory.
    /// </summary>
    private SearchResult TinySearch(SearchOptions rounds)
    {
        using DistillModel teacher = ModelFactory.Create("small-cnn", 5);
        new Trainer(Options(1)).Fit("teacher", teacher, WeightedLoss.ForMethod("none"), Train, Test, null, null, false);
        (ImageDataset train, ImageDataset validation) = Train.SplitStratified(5, 1);
        SearchOptions options = rounds with { BudgetParameters = 12_000, Population = 3, Epochs = 1, LatencyRepeats = 3, Training = Options(1) };
        SearchResult result = StudentSearch.Run(teacher, train, validation, options, RunDirectory);
        SearchReport.Write(result, RunDirectory, SearchReport.WinnerRecipe(result, new Recipe()), 100, "test");
        return result;
    }
}
