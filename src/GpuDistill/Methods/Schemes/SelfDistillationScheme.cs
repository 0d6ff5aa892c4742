using System.Diagnostics;
using System.Globalization;
using GpuDistill.Data;
using GpuDistill.Features;
using GpuDistill.Models;
using GpuDistill.Training;
using GpuDistill.Methods;
using static TorchSharp.torch;

namespace GpuDistill.Methods;

/// <summary>
/// Self-distillation, deep to shallow (Be Your Own Teacher, Zhang et al. 2019): the student architecture gets an
/// auxiliary classifier after each shallow stage, and those exits learn from its deepest classifier (outputs and
/// features; <see cref="SelfDistillationTerm"/>); no external teacher. Reports every exit's accuracy and its cost:
/// the parameters and the measured inference time per image of running the network only up to that exit, since the
/// shallow exits are the deployable small models.
/// </summary>
public sealed class SelfDistillationScheme : IScheme
{
    /// <summary>The registry's description (its settings are the byot term's).</summary>
    public static SchemeInfo Info { get; } = SchemeInfo.Of<SelfDistillationSettings>("byot",
        "Be Your Own Teacher: exits on the shallow stages learn from the network's deepest head; reports every exit (Zhang et al. 2019).",
        _ => new SelfDistillationScheme());

    /// <summary>The network's loss: its own cross-entropy plus the exits' terms.</summary>
    public const string Loss = "byot:1,ce:1";

    /// <inheritdoc/>
    public string Name => "byot";

    /// <inheritdoc/>
    /// <remarks>The exits are small convolutional classifiers on the stages' maps: a student whose feature layers are
    /// vectors (the MLP) has none to put them on.</remarks>
    public string? CannotTrain(string student)
    {
        using DistillModel model = ModelFactory.Create(student, 0);
        using var capture = new FeatureCapture(model, model.FeatureLayers);
        using Tensor image = zeros(1, 1, 28, 28);
        string[] flat = [.. capture.Shapes(model, image).Where(layer => layer.Value.Length != 4)
            .Select(layer => $"{layer.Key} [{string.Join(", ", layer.Value)}]")];
        return flat.Length == 0 ? null
            : $"byot puts its exits on feature maps [B, C, H, W], and {student}'s feature layers are not maps: {string.Join(", ", flat)}.";
    }

    /// <inheritdoc/>
    public IReadOnlyList<SchemeRow> Run(SchemeContext context, string student, int seed)
    {
        ArgumentNullException.ThrowIfNull(context);
        using DistillModel model = ModelFactory.Create(student, seed);
        WeightedLoss loss = LossSpec.Parse(Loss).Create(context.Recipe.Settings);
        var term = (SelfDistillationTerm)loss.Terms.Single(t => t.Term is SelfDistillationTerm).Term;
        TrainingRun run = context.Trainer(seed).Fit($"{Name}/{student}/seed{seed}", model, loss, context.Train, context.Test,
            null, context.ClaimDirectory(Name, student, seed, loss, scheme: Name), context.Resume, context.CancellationToken);
        try
        {
            IReadOnlyList<double> accuracies = term.ExitAccuracies(model, context.Test);
            var rows = new List<SchemeRow>();
            for (int exit = 0; exit < accuracies.Count; exit++)
            {
                bool deepest = exit == accuracies.Count - 1;
                (long parameters, double milliseconds) = ExitCost(model, term, exit, context.Test);
                string note = string.Create(CultureInfo.InvariantCulture,
                    $"exit after {term.StudentLayers[exit]}: {parameters:N0} parameters, {milliseconds:F3} ms per image (batch 1000, inference up to this exit)");
                EpochRecord last = run.Epochs[^1] with { TestAccuracy = accuracies[exit] };
                TrainingRun exitRun = run with
                {
                    Name = $"{run.Name}/exit{exit + 1}",
                    Parameters = parameters,
                    Epochs = [.. run.Epochs.SkipLast(1), last],
                    AdapterParameters = deepest ? run.AdapterParameters : 0,
                };
                rows.Add(new SchemeRow(deepest ? $"exit {exit + 1}, deepest" : $"exit {exit + 1}", exitRun, note));
            }
            return rows;
        }
        finally
        {
            term.Dispose();
        }
    }

    /// <summary>
    /// Parameters and inference time of the network cut at <paramref name="exit"/>: its stages up to that exit's
    /// layer plus the exit's classifier (the deepest exit is the whole network).
    /// </summary>
    private static (long Parameters, double MillisecondsPerImage) ExitCost(DistillModel model, SelfDistillationTerm term, int exit, ImageDataset test)
    {
        bool deepest = exit == term.Exits.Count;
        List<(string Name, nn.Module Module)> children = [.. model.named_children()];
        int cut = deepest ? children.Count : children.FindIndex(c => c.Name == term.StudentLayers[exit]) + 1;
        if (cut <= 0) throw new InvalidOperationException($"'{model.Architecture}' has no stage named '{term.StudentLayers[exit]}'.");
        long parameters = deepest
            ? model.ParameterCount
            : children.Take(cut).Sum(c => c.Module.parameters().Sum(p => p.numel())) + term.Exits[exit].parameters().Sum(p => p.numel());

        model.eval();
        term.Adapter?.eval();
        using var noGrad = no_grad();
        using ImageBatch batch = new ImageBatcher(test, 1000).Epoch(0).First();
        double best = double.MaxValue;
        for (int round = 0; round < 5; round++)
        {
            using var scope = NewDisposeScope();
            long start = Stopwatch.GetTimestamp();
            if (deepest)
            {
                model.ForwardLogits(batch.Images);
            }
            else
            {
                Tensor x = batch.Images;
                foreach ((_, nn.Module module) in children.Take(cut)) x = ((nn.Module<Tensor, Tensor>)module).call(x);
                term.Exits[exit].call(x);
            }
            best = Math.Min(best, Stopwatch.GetElapsedTime(start).TotalMilliseconds / batch.Count);
        }
        return (parameters, best);
    }
}
