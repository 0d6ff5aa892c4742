// A loss term of your own, registered once and then used from a JSON recipe like the built-in methods: the same
// trainer, checkpoints, results and settings. Run: dotnet run --project examples/CustomTerm [-- --quick] [--out DIR]
using CustomTerm;
using GpuDistill.Experiments;
using GpuDistill.Methods;

// The one registry line: from here on loss specs, recipes and settings know "cosine".
MethodRegistry.Default.Register(CosineTerm.Info);

bool quick = args.Contains("--quick");
int outAt = Array.IndexOf(args, "--out");
string output = outAt >= 0 && outAt + 1 < args.Length ? args[outAt + 1] : Path.Combine("runs", "custom-term");

Recipe recipe = RecipeLoader.Load(Path.Combine(AppContext.BaseDirectory, "recipe.json"));
if (quick)
{
    recipe = recipe with
    {
        Teacher = recipe.Teacher with { Training = recipe.Teacher.Training with { Epochs = 1 } },
        Training = recipe.Training with { Epochs = 1 },
    };
}

ExperimentResults results = new Experiment(recipe, output, progress: null, log: Console.WriteLine).Run(resume: true);
foreach (SummaryRow row in results.Summary)
    Console.WriteLine($"{row.Method,-8} {row.Loss,-16} test accuracy {row.MeanAccuracy:P2}");
Console.WriteLine($"results in {Path.GetFullPath(output)}");
