using GpuDistill.Training;
using GpuDistill.Features;
using GpuDistill.Interop;
using GpuDistill.Models;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GpuDistill.Methods;

/// <summary>
/// The settings of <c>byot</c> (term and scheme): the layers (shallow exits, then the deepest last), T = 3,
/// alpha = 0.3, lambda = 0.03 (the paper's settings as its public re-implementations use them).
/// </summary>
public sealed record SelfDistillationSettings : LayerSettings
{
    /// <summary>Softening temperature of the KL part.</summary>
    public double Temperature { get; init; } = 3.0;

    /// <summary>Share of the KL part against the exit's own cross-entropy, in [0, 1].</summary>
    public double Alpha { get; init; } = 0.3;

    /// <summary>Weight of the feature hint.</summary>
    public double Lambda { get; init; } = 0.03;

    /// <inheritdoc/>
    public override void Validate()
    {
        Require(double.IsFinite(Temperature) && Temperature > 0, "temperature", Temperature, "finite and > 0");
        Require(Alpha is >= 0 and <= 1, "alpha", Alpha, "in [0, 1]");
        Require(double.IsFinite(Lambda) && Lambda >= 0, "lambda", Lambda, "finite and >= 0");
    }
}

/// <summary>
/// Be Your Own Teacher (Zhang et al., ICCV 2019): auxiliary classifiers on the shallow stages of one network learn
/// from its deepest classifier, per shallow exit i:
/// (1 - alpha) CE(z_i, y) + alpha T^2 KL(softmax(z_deep / T) || softmax(z_i / T)) + lambda ||F_i - F_deep||^2 (mean),
/// with z_deep and F_deep (the deepest stage) detached: the deepest head is the teacher, trained by the run's
/// <c>ce</c> term; T, alpha and lambda are <see cref="SelfDistillationSettings"/>.
/// </summary>
/// <remarks>
/// The shallow layers default to every feature layer but the last; the deepest to the last. The auxiliary
/// classifiers (<see cref="AuxiliaryClassifier"/>) train with the network and are saved with its checkpoints (as its
/// adapters); at inference any exit can be used alone: <see cref="ExitAccuracies"/> measures each one.
/// </remarks>
/// <param name="settings">Layers named by the user (shallow layers, then the deepest last), if any.</param>
public sealed class SelfDistillationTerm(SelfDistillationSettings settings) : IAdaptedTerm, IDisposable
{
    /// <summary>The registry's description (the byot scheme trains with it; it shares that scheme's settings).</summary>
    public static TermInfo Info { get; } = TermInfo.Of<SelfDistillationSettings>("byot",
        "Be Your Own Teacher: shallow exits learn from the network's deepest head (Zhang et al. 2019; the byot scheme).",
        s => new SelfDistillationTerm(s));

    private List<AuxiliaryClassifier> exits = [];
    private AdapterList? adapter;

    /// <inheritdoc/>
    public string Name => "byot";

    /// <inheritdoc/>
    public bool NeedsTeacher => false;

    /// <inheritdoc/>
    public IReadOnlyList<string> StudentLayers { get; private set; } = [];

    /// <inheritdoc/>
    public IReadOnlyList<string> TeacherLayers => StudentLayers;

    /// <inheritdoc/>
    public Module? Adapter => adapter;

    /// <summary>The auxiliary classifiers, shallowest first (built by the trainer).</summary>
    public IReadOnlyList<AuxiliaryClassifier> Exits => exits;

    /// <inheritdoc/>
    public void Bind(DistillModel student, DistillModel teacher)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(student);
        StudentLayers = settings.StudentLayers is { Count: > 0 } chosen ? chosen : LayerChoice.All(student);
        if (StudentLayers.Count < 2)
            throw new ArgumentException(
                $"Loss term 'byot' needs a shallow layer and the deepest one; got {string.Join(", ", StudentLayers)}.", nameof(student));
    }

    /// <inheritdoc/>
    public void BuildAdapter(IReadOnlyDictionary<string, long[]> studentShapes, IReadOnlyDictionary<string, long[]> teacherShapes, long seed)
    {
        ArgumentNullException.ThrowIfNull(studentShapes);
        manual_seed(seed);
        long[] deepest = studentShapes[StudentLayers[^1]][1..];
        exits = [.. StudentLayers.SkipLast(1).Select(layer => new AuxiliaryClassifier(studentShapes[layer][1..], deepest, DistillModel.ClassCount))];
        adapter = new AdapterList(exits);
    }

    /// <inheritdoc/>
    public Tensor Compute(TermInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        if (adapter is null)
            throw new InvalidOperationException("BYOT's auxiliary classifiers are not built: the trainer builds them before the first step.");
        using Scalar ceShare = (1 - settings.Alpha).ToScalar(), klShare = settings.Alpha.ToScalar(), hint = settings.Lambda.ToScalar();
        Tensor deepLogits = inputs.StudentLogits.detach();
        Tensor deepFeature = inputs.StudentFeature(Name, StudentLayers[^1]).detach();
        Tensor? total = null;
        for (int i = 0; i < exits.Count; i++)
        {
            (Tensor feature, Tensor logits) = exits[i].call(inputs.StudentFeature(Name, StudentLayers[i]));
            Tensor exitLoss = functional.cross_entropy(logits, inputs.Labels).mul(ceShare)
                .add(Losses.SoftmaxKL(logits, deepLogits, settings.Temperature), klShare)
                .add(functional.mse_loss(feature, deepFeature), hint);
            total = total is null ? exitLoss : total.add(exitLoss, Scalars.One);
        }
        return total!;
    }

    /// <summary>
    /// Test accuracy of every exit, shallowest first, the deepest (the network's own head) last, in eval mode.
    /// </summary>
    /// <param name="model">The trained network.</param>
    /// <param name="test">Test images.</param>
    /// <returns>One accuracy per exit.</returns>
    public IReadOnlyList<double> ExitAccuracies(DistillModel model, Data.ImageDataset test)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(test);
        if (adapter is null) throw new InvalidOperationException("BYOT's auxiliary classifiers are not built.");
        bool wasTraining = model.training;
        model.eval();
        adapter.eval();
        IReadOnlyList<double> accuracies;
        using (var capture = new FeatureCapture(model, StudentLayers.SkipLast(1)))
        {
            accuracies = Evaluation.Accuracies(test, images =>
            {
                Tensor deep = model.ForwardLogits(images);
                Tensor[] heads = [.. exits.Select((exit, i) => exit.call(capture[StudentLayers[i]]).Logits), deep];
                capture.Clear();
                return heads;
            });
        }
        model.train(wasTraining);
        adapter.train(wasTraining);
        return accuracies;
    }

    /// <summary>Frees the auxiliary classifiers.</summary>
    public void Dispose() => adapter?.Dispose();
}
