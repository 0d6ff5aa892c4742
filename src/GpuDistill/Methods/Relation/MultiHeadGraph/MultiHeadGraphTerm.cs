using GpuDistill.Training;
using System.Diagnostics;
using System.Text.Json;
using GpuDistill.Data;
using GpuDistill.Models;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GpuDistill.Methods;

/// <summary>The settings of <c>mhgd</c>: the layers, and the knobs of its network and of its teacher stage.</summary>
public sealed record MultiHeadGraphSettings : LayerSettings
{
    /// <summary>Attention heads per graph (8 in the paper and the code).</summary>
    public int Heads { get; init; } = 8;

    /// <summary>
    /// Epochs of the teacher stage. The code fits the network for 40 epochs of CIFAR-100 (50,000 images, ~15,600
    /// steps) before 100 epochs of the student; our student trains 3 to 10 epochs, and the fit levels off within a
    /// few thousand steps, so 10 passes (4,700 steps on the full Fashion-MNIST, 470 on the embedded subset).
    /// </summary>
    public int StageEpochs { get; init; } = 10;

    /// <summary>Learning rate of the teacher stage: the code's 0.1, here cosine-annealed over the stage (the code
    /// keeps it constant over its much longer stage).</summary>
    public double StageLearningRate { get; init; } = 0.1;

    /// <summary>Nesterov momentum of the teacher stage (the code's 0.9).</summary>
    public double StageMomentum { get; init; } = 0.9;

    /// <summary>Weight decay of the teacher stage: the code adds 5e-4 sum(w^2) over the network's weights, biases and
    /// shifts, whose gradient is 1e-3 w.</summary>
    public double StageWeightDecay { get; init; } = 1e-3;

    /// <summary>
    /// Clip the term's gradient at each student layer to the norm of cross-entropy's gradient there, times
    /// sigmoid(epoch) (the code's clipping, per variable there; see <see cref="MultiHeadGraphTerm"/>).
    /// </summary>
    public bool ClipToCrossEntropy { get; init; } = true;

    /// <inheritdoc/>
    public override void Validate()
    {
        Require(Heads >= 1, "heads", Heads, ">= 1");
        Require(StageEpochs >= 1, "stageEpochs", StageEpochs, ">= 1");
        Require(double.IsFinite(StageLearningRate) && StageLearningRate > 0, "stageLearningRate", StageLearningRate, "finite and > 0");
        Require(double.IsFinite(StageMomentum) && StageMomentum >= 0 && StageMomentum < 1, "stageMomentum", StageMomentum, "in [0, 1)");
        Require(double.IsFinite(StageWeightDecay) && StageWeightDecay >= 0, "stageWeightDecay", StageWeightDecay, "finite and >= 0");
    }
}

/// <summary>What MHGD's teacher stage did.</summary>
/// <param name="Epochs">Passes over the training set.</param>
/// <param name="Steps">Optimiser steps.</param>
/// <param name="Seconds">Wall time of the stage.</param>
/// <param name="EpochLosses">Mean fitting loss (summed over the pairs) of each epoch.</param>
public sealed record MultiHeadGraphStageReport(int Epochs, int Steps, double Seconds, IReadOnlyList<double> EpochLosses)
{
    /// <summary>The last epoch's mean fitting loss.</summary>
    public double FinalLoss => EpochLosses[^1];
}

/// <summary>
/// Multi-head graph distillation, "mhgd" (Lee and Song 2019, BMVC, arXiv 1907.02226). Each layer of a chain is
/// compressed to one vector per example (its dominant right singular vector, <see cref="SingularVectors"/>); a
/// multi-head attention network (<see cref="MultiHeadAttentionGraph"/>) embeds the relation between consecutive
/// layers as H graphs over the batch. Stage 1 (<see cref="Prepare"/>, the term's own stage): the network is fitted
/// on the teacher alone, its estimator predicting layer k's vectors from layer k-1's through the graphs, then frozen.
/// Stage 2 (the trainer's epochs): the student's graphs, through the frozen head, are pulled towards the teacher's
/// (<see cref="MultiHeadGraphNetwork.Loss"/>). Default layers: every feature layer of each model (the stages of the
/// CNNs), so the pairs are stage1 -> stage2 and stage2 -> stage3; <c>--student-layers</c>/<c>--teacher-layers</c>
/// name another chain.
/// </summary>
/// <remarks>
/// Follows the code (sseung0703/KD_methods_with_TF: <c>nets/Relation.py</c> MHGD, <c>op_util.py</c>
/// Optimizer_w_MHGD, <c>train_w_distill.py</c>): the stage trains only the network (the student is untouched), with
/// Nesterov SGD, lr 0.1, momentum 0.9 and 5e-4 sum(w^2); the network then freezes, running statistics included; the
/// distillation loss joins cross-entropy with weight 1. Adapted: the stage is shorter and cosine-annealed
/// (<see cref="MultiHeadGraphSettings"/>); the student's vectors are mapped to the teacher's widths
/// (<see cref="MultiHeadGraphNetwork"/>); and the code clips the distillation gradient of each student variable to
/// the norm of its cross-entropy gradient times sigmoid(epoch) (0.5 in the first epoch of stage 2, then towards 1),
/// which the trainer's one backward pass over a weighted sum cannot do per parameter; the term does it per layer
/// instead: it takes cross-entropy's gradient at each student layer it reads (one extra partial backward from the
/// logits) and clips its own gradient there to that norm times the same ramp (<see cref="MultiHeadGraphSettings.ClipToCrossEntropy"/>).
/// Without any clipping the summed KL (~800 over 8 heads x 128 rows x 2 pairs) swamps cross-entropy: measured on the
/// embedded subset (small-cnn, 3 epochs, 1 seed, teacher 84.1%), the student fell from 72.8% (alone) to 64.2%;
/// clipped, 73.1%.
/// </remarks>
/// <param name="settings">The layers, the network's and the stage's knobs.</param>
public sealed class MultiHeadGraphTerm(MultiHeadGraphSettings settings) : IPreparedTerm, IDisposable
{
    /// <summary>The registry's description: method mhgd = mhgd:1,ce:1.</summary>
    public static TermInfo Info { get; } = TermInfo.Of<MultiHeadGraphSettings>("mhgd",
        "Multi-head graph distillation: attention graphs between consecutive layers, fitted on the teacher first (Lee and Song 2019); default: consecutive stages.",
        s => new MultiHeadGraphTerm(s), new BuiltInMethod("mhgd", "mhgd:1,ce:1")
        {
            Grid = TuningGrid.Scaled("mhgd:1,ce:1", 0.1, 0.3, 1),
        });

    /// <summary>The file the stage leaves in the run's checkpoint directory.</summary>
    public const string StageFile = "mhgd-stage.json";

    private MultiHeadGraphNetwork? network;

    // The teacher's singular vectors per training image, all layers side by side: with cached teacher outputs they are
    // the same every epoch, and computing them was a third of the term's time.
    private readonly TeacherDerivedCache teacherVectors = new();

    /// <inheritdoc/>
    public string Name => "mhgd";

    /// <inheritdoc/>
    public bool NeedsTeacher => true;

    /// <inheritdoc/>
    public IReadOnlyList<string> StudentLayers { get; private set; } = [];

    /// <inheritdoc/>
    public IReadOnlyList<string> TeacherLayers { get; private set; } = [];

    /// <inheritdoc/>
    public Module? Adapter => network;

    /// <summary>The network, once built.</summary>
    public MultiHeadGraphNetwork? Network => network;

    /// <summary>What the last teacher stage of this term did; null when it has not run (e.g. on resume).</summary>
    public MultiHeadGraphStageReport? LastStage { get; private set; }

    /// <inheritdoc/>
    public void Bind(DistillModel student, DistillModel teacher)
    {
        (IReadOnlyList<string> s, IReadOnlyList<string> t) = LayerChoice.Resolve(Name, settings, student, teacher, LayerChoice.All);
        if (s.Count < 2)
            throw new ArgumentException(
                $"Loss term '{Name}' relates consecutive layers, so it needs a chain of at least 2; got {string.Join(", ", s)}.", nameof(student));
        StudentLayers = s;
        TeacherLayers = t;
    }

    /// <inheritdoc/>
    public void BuildAdapter(IReadOnlyDictionary<string, long[]> studentShapes, IReadOnlyDictionary<string, long[]> teacherShapes, long seed)
    {
        ArgumentNullException.ThrowIfNull(studentShapes);
        ArgumentNullException.ThrowIfNull(teacherShapes);
        settings.Validate();
        manual_seed(seed);
        var built = new MultiHeadGraphNetwork(
            [.. StudentLayers.Select(l => Width(studentShapes, l, nameof(studentShapes)))],
            [.. TeacherLayers.Select(l => Width(teacherShapes, l, nameof(teacherShapes)))], settings.Heads);
        network?.Dispose();
        network = built;
    }

    /// <summary>
    /// Stage 1: fits the attention networks on the teacher's layers alone (the student is untouched), then freezes
    /// them and marks them fitted; reports each step and writes <see cref="StageFile"/> into the run's directory.
    /// </summary>
    /// <param name="context">The teacher's outputs, the training batches, the seed and where to report.</param>
    public void Prepare(TermPreparation context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (network is null)
            throw new InvalidOperationException("MHGD's network is not built: the trainer builds it (BuildAdapter) before the stage.");
        manual_seed(context.Seed);
        var clock = Stopwatch.StartNew();
        var losses = new List<double>();
        int steps = 0;
        network.SetGraphsTrainable(true);
        try
        {
            var optimizer = new NesterovSgd(network.GraphParameters(), settings.StageLearningRate, settings.StageMomentum, settings.StageWeightDecay);
            string run = context.RunName + " mhgd-stage";
            for (int epoch = 0; epoch < settings.StageEpochs; epoch++)
            {
                optimizer.LearningRate = settings.StageLearningRate * 0.5 * (1 + Math.Cos(Math.PI * epoch / settings.StageEpochs));
                double sum = 0;
                long seen = 0;
                int step = 0;
                var epochClock = Stopwatch.StartNew();
                foreach (ImageBatch batch in context.Batches(epoch))
                {
                    using (batch)
                    using (var scope = NewDisposeScope())
                    {
                        step++;
                        // Batch statistics need two examples (a last batch of one is skipped).
                        if (batch.Count < 2) continue;
                        TeacherBatch teacher = context.Teacher.Get(batch);
                        IReadOnlyList<Tensor> vectors = TeacherVectors(Layers(teacher.Features, TeacherLayers, "teacher", nameof(context)), teacher.Examples);
                        Tensor loss = network.FitLoss(vectors);
                        optimizer.ZeroGrad();
                        loss.backward();
                        optimizer.Step();
                        double value = loss.item<float>();
                        if (!double.IsFinite(value))
                            throw new InvalidOperationException($"MHGD's teacher stage: the loss became {value} at epoch {epoch + 1}, step {step}.");
                        sum += value * batch.Count;
                        seen += batch.Count;
                        steps++;
                    }
                    context.Progress?.Report(new TrainingProgress(run, epoch + 1, settings.StageEpochs, step, context.StepsPerEpoch,
                        new Dictionary<string, double> { ["mha"] = sum / Math.Max(1, seen) }, double.NaN, seen / epochClock.Elapsed.TotalSeconds, null));
                }
                losses.Add(sum / Math.Max(1, seen));
            }
            network.MarkFitted();
        }
        finally
        {
            network.SetGraphsTrainable(false);
        }
        LastStage = new MultiHeadGraphStageReport(settings.StageEpochs, steps, clock.Elapsed.TotalSeconds, losses);
        context.Progress?.Report(new TrainingProgress(context.RunName + " mhgd-stage", settings.StageEpochs, settings.StageEpochs,
            context.StepsPerEpoch, context.StepsPerEpoch,
            new Dictionary<string, double> { ["mha"] = LastStage.FinalLoss, ["seconds"] = LastStage.Seconds }, double.NaN, 0, null));
        if (context.Directory is not null)
        {
            Directory.CreateDirectory(context.Directory);
            AtomicFile.WriteAllText(Path.Combine(context.Directory, StageFile), JsonSerializer.Serialize(LastStage, ResultJson.Options));
        }
    }

    /// <inheritdoc/>
    public Tensor Compute(TermInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        if (network is null || StudentLayers.Count == 0)
            throw new InvalidOperationException($"Loss term '{Name}' is not bound and built: the trainer does both before the first step.");
        if (!network.IsFitted)
            throw new InvalidOperationException($"Loss term '{Name}': the attention network is not fitted on the teacher; the trainer runs that stage (Prepare) before the first epoch.");
        Tensor[] student = Layers(inputs.StudentFeatures, StudentLayers, "student", nameof(inputs));
        Tensor[] teacher = Layers(inputs.TeacherFeatures, TeacherLayers, "teacher", nameof(inputs));
        if (settings.ClipToCrossEntropy && is_grad_enabled() && student.Any(s => s.requires_grad))
            student = ClippedToCrossEntropy(inputs, student);
        return network.Loss(student, teacher, TeacherVectors(teacher, inputs.TeacherExamples));
    }

    /// <summary>The network's teacher vectors for these layers, kept per image when they come from a teacher cache.</summary>
    private Tensor[] TeacherVectors(Tensor[] teacher, TeacherExamples? examples)
    {
        Tensor joined = teacherVectors.GetOrCompute(examples, () => cat([.. network!.TeacherVectors(teacher)], 1));
        return joined.split([.. network!.TeacherWidths], 1);
    }

    /// <summary>How many batches' teacher vectors were read from the per-image cache, and how many computed.</summary>
    public (long Gathered, long Computed) TeacherVectorBatches => teacherVectors.Batches;

    /// <summary>
    /// The student's layers on a path whose gradient is clipped, layer by layer, to sigmoid(epoch) times the norm of
    /// cross-entropy's gradient at that layer (layers cross-entropy does not reach are left unclipped).
    /// </summary>
    private static Tensor[] ClippedToCrossEntropy(TermInputs inputs, Tensor[] student)
    {
        double ramp = 1 / (1 + Math.Exp(-inputs.Epoch));
        Tensor[] learning = [.. student.Where(s => s.requires_grad)];
        var bounds = new Dictionary<Tensor, double>(ReferenceEqualityComparer.Instance);
        using (NewDisposeScope())
        {
            Tensor crossEntropy = functional.cross_entropy(inputs.StudentLogits, inputs.Labels);
            IList<Tensor> gradients = autograd.grad([crossEntropy], learning, retain_graph: true, allow_unused: true);
            for (int k = 0; k < learning.Length; k++)
            {
                if (gradients[k] is { IsInvalid: false } g) bounds[learning[k]] = ramp * g.norm().item<float>();
            }
        }
        return [.. student.Select(s => bounds.TryGetValue(s, out double bound) ? GradientNormClip.Clip(s, bound) : s)];
    }

    /// <summary>Frees the network.</summary>
    public void Dispose() => network?.Dispose();

    /// <summary>The captures of <paramref name="layers"/>, or an ArgumentException naming the missing one.</summary>
    private Tensor[] Layers(IReadOnlyDictionary<string, Tensor>? features, IReadOnlyList<string> layers, string model, string argument) =>
        [.. layers.Select(l => features is not null && features.TryGetValue(l, out Tensor? f)
            ? f
            : throw new ArgumentException($"Loss term '{Name}' reads the {model}'s layer '{l}', which is missing from the captured layers ({string.Join(", ", features?.Keys ?? [])}).", argument))];

    /// <summary>The channels (dimension 1) of a layer's shape.</summary>
    private static long Width(IReadOnlyDictionary<string, long[]> shapes, string layer, string argument) =>
        shapes.TryGetValue(layer, out long[]? shape) && shape.Length is 2 or 4
            ? shape[1]
            : throw new ArgumentException($"MHGD needs layer '{layer}' as [B, C, H, W] or [B, D]; got {(shape is null ? "no such layer" : "[" + string.Join(", ", shape) + "]")}.", argument);
}
