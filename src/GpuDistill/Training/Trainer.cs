using System.Diagnostics;
using System.Text.Json;
using GpuDistill.Data;
using GpuDistill.Features;
using GpuDistill.Models;
using GpuDistill.Training.Terms;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GpuDistill.Training;

/// <summary>
/// Trains one model with a weighted loss: SGD (Nesterov) with a cosine schedule, a test evaluation after each
/// epoch, and an atomic, resumable checkpoint after each epoch.
/// </summary>
/// <param name="options">Epochs, batch size, learning rate, seed.</param>
/// <param name="progress">Receives a report after every step and every epoch.</param>
public sealed class Trainer(TrainingOptions options, IProgress<TrainingProgress>? progress = null)
{
    private const string StateFile = "state.json";

    /// <summary>Trains <paramref name="model"/> and returns its record.</summary>
    /// <param name="runName">Name shown in progress and results.</param>
    /// <param name="model">The model to train (its weights change).</param>
    /// <param name="loss">The weighted loss terms.</param>
    /// <param name="train">Training images.</param>
    /// <param name="test">Test images (accuracy after each epoch).</param>
    /// <param name="teacher">The frozen teacher's outputs, when a term needs them.</param>
    /// <param name="checkpointDirectory">Where to keep this run's checkpoint; null for none.</param>
    /// <param name="resume">Continue from the last completed epoch in <paramref name="checkpointDirectory"/>.</param>
    /// <param name="cancellationToken">Stops after the current step (the last completed epoch stays saved).</param>
    /// <returns>The run's record.</returns>
    public TrainingRun Fit(string runName, DistillModel model, WeightedLoss loss, ImageDataset train, ImageDataset test,
        TeacherOutputs? teacher, string? checkpointDirectory, bool resume, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(loss);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(test);
        options.Validate();
        if (loss.NeedsTeacher && teacher is null)
            throw new ArgumentException($"Loss '{loss}' needs a teacher, but none was given.", nameof(teacher));

        manual_seed(options.Seed);
        var batcher = new ImageBatcher(train, options.BatchSize, new BatchOptions
        {
            Shuffle = true,
            Seed = options.Seed,
            Augmentation = options.Augment ? ImageAugmentation.HorizontalFlip | ImageAugmentation.RandomCrop : ImageAugmentation.None,
        });
        using FeatureCapture? capture = BindFeatureTerms(model, loss, teacher);
        Module? adapters = BuildAdapters(model, loss, teacher, capture, batcher);
        IEnumerable<TorchSharp.Modules.Parameter> trainable = adapters is null ? model.parameters() : model.parameters().Concat(adapters.parameters());
        var optimizer = new NesterovSgd(trainable, options.LearningRate, options.Momentum, options.WeightDecay);
        var history = new List<EpochRecord>();
        if (resume && checkpointDirectory is not null)
            history = Restore(checkpointDirectory, model, adapters, optimizer, options.Epochs);

        var parts = new StepParts(model, adapters, capture, loss, teacher, optimizer);
        for (int epoch = history.Count; epoch < options.Epochs; epoch++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            optimizer.LearningRate = options.LearningRate * 0.5 * (1 + Math.Cos(Math.PI * epoch / options.Epochs));
            EpochRecord record = RunEpoch(runName, parts, batcher, test, epoch, cancellationToken);
            history.Add(record);
            if (checkpointDirectory is not null) Save(checkpointDirectory, model, adapters, optimizer, history);
        }
        long adapterParameters = adapters?.parameters().Sum(p => p.numel()) ?? 0;
        return new TrainingRun(runName, model.Architecture, model.ParameterCount, options.Seed, loss.ToString(), history, adapterParameters);
    }

    /// <summary>What one training step works with.</summary>
    private sealed record StepParts(DistillModel Model, Module? Adapters, FeatureCapture? Capture, WeightedLoss Loss,
        TeacherOutputs? Teacher, NesterovSgd Optimizer);

    private EpochRecord RunEpoch(string runName, StepParts parts, ImageBatcher batcher, ImageDataset test, int epoch,
        CancellationToken cancellationToken)
    {
        (DistillModel model, Module? adapters, FeatureCapture? capture, WeightedLoss loss, TeacherOutputs? teacher, NesterovSgd optimizer) = parts;
        model.train();
        adapters?.train();
        var sums = new Dictionary<string, double>();
        var termValues = new Dictionary<string, double>();
        double lossSum = 0, teacherTime = 0, forwardTime = 0, lossTime = 0, backwardTime = 0;
        long seen = 0, correct = 0;
        int step = 0, steps = batcher.BatchCount;
        var clock = Stopwatch.StartNew();

        foreach (ImageBatch batch in batcher.Epoch(epoch))
        {
            cancellationToken.ThrowIfCancellationRequested();
            using (batch)
            using (var scope = NewDisposeScope())
            {
                try
                {
                    long t0 = Stopwatch.GetTimestamp();
                    TeacherBatch? teacherBatch = loss.NeedsTeacher ? teacher!.Get(batch) : null;
                    long t1 = Stopwatch.GetTimestamp();
                    using ModelOutput output = model.Forward(batch.Images);
                    long t2 = Stopwatch.GetTimestamp();
                    termValues.Clear();
                    var inputs = new TermInputs(output.Logits, teacherBatch?.Logits, batch.Labels, epoch, options.Epochs,
                        capture is null ? null : capture.Layers.ToDictionary(l => l, l => capture[l], StringComparer.Ordinal),
                        teacherBatch?.Features);
                    Tensor total = loss.Compute(inputs, termValues);
                    long t3 = Stopwatch.GetTimestamp();
                    optimizer.ZeroGrad();
                    total.backward();
                    optimizer.Step();
                    long t4 = Stopwatch.GetTimestamp();

                    teacherTime += Stopwatch.GetElapsedTime(t0, t1).TotalSeconds;
                    forwardTime += Stopwatch.GetElapsedTime(t1, t2).TotalSeconds;
                    lossTime += Stopwatch.GetElapsedTime(t2, t3).TotalSeconds;
                    backwardTime += Stopwatch.GetElapsedTime(t3, t4).TotalSeconds;

                    double value = total.item<float>();
                    if (!double.IsFinite(value))
                        throw new InvalidOperationException($"{runName}: the loss became {value} at epoch {epoch + 1}, step {step + 1}; lower the learning rate.");
                    lossSum += value * batch.Count;
                    foreach ((string name, double v) in termValues) sums[name] = sums.GetValueOrDefault(name) + v * batch.Count;
                    correct += output.Logits.argmax(1).eq(batch.Labels).sum().item<long>();
                    seen += batch.Count;
                    step++;
                }
                finally
                {
                    // The captures hold the step's activations: free them every step.
                    capture?.Clear();
                }
            }
            progress?.Report(new TrainingProgress(runName, epoch + 1, options.Epochs, step, steps, Means(sums, seen),
                correct / (double)seen, seen / clock.Elapsed.TotalSeconds, null));
        }

        double seconds = clock.Elapsed.TotalSeconds;
        double accuracy = Evaluation.Accuracy(model, test);
        capture?.Clear();
        IReadOnlyDictionary<string, double> means = Means(sums, seen);
        progress?.Report(new TrainingProgress(runName, epoch + 1, options.Epochs, steps, steps, means,
            correct / (double)seen, seen / seconds, accuracy));
        return new EpochRecord(epoch + 1, lossSum / seen, means, accuracy, seconds,
            new StepTimeSplit(teacherTime, forwardTime, lossTime, backwardTime));
    }

    /// <summary>
    /// Resolves the feature terms' layers for this student and teacher and hooks the student's; null when no term
    /// reads features.
    /// </summary>
    private static FeatureCapture? BindFeatureTerms(DistillModel model, WeightedLoss loss, TeacherOutputs? teacher)
    {
        List<IFeatureTerm> terms = loss.Terms.Where(t => t.Weight != 0).Select(t => t.Term).OfType<IFeatureTerm>().ToList();
        if (terms.Count == 0) return null;
        if (teacher is null)
            throw new ArgumentException($"Loss '{loss}' reads teacher layers, but no teacher was given.", nameof(teacher));
        foreach (IFeatureTerm term in terms) term.Bind(model, teacher.Model);
        string[] missing = terms.SelectMany(t => t.TeacherLayers).Where(l => !teacher.FeatureShapes.ContainsKey(LayerPath.Parse(l).ToString())).Distinct().ToArray();
        if (missing.Length > 0)
            throw new ArgumentException(
                $"The teacher's outputs were prepared without layer(s) {string.Join(", ", missing)}; create them with those layers (TeacherOutputs.Create(..., layers)).",
                nameof(teacher));
        return new FeatureCapture(model, terms.SelectMany(t => t.StudentLayers));
    }

    /// <summary>
    /// Builds the learned adapters of the loss's terms from one probe pass of the student (eval mode, no gradient) and
    /// the teacher's layer shapes; null when no term has any.
    /// </summary>
    private AdapterList? BuildAdapters(DistillModel model, WeightedLoss loss, TeacherOutputs? teacher, FeatureCapture? capture, ImageBatcher batcher)
    {
        List<IAdaptedTerm> terms = loss.Terms.Where(t => t.Weight != 0).Select(t => t.Term).OfType<IAdaptedTerm>().ToList();
        if (terms.Count == 0 || capture is null || teacher is null) return null;
        Dictionary<string, long[]> studentShapes;
        bool wasTraining = model.training;
        model.eval();
        using (no_grad())
        using (var scope = NewDisposeScope())
        using (ImageBatch probe = batcher.Epoch(0).First())
        {
            model.ForwardLogits(probe.Images);
            studentShapes = capture.Layers.ToDictionary(l => l, l => capture[l].shape, StringComparer.Ordinal);
            capture.Clear();
        }
        model.train(wasTraining);
        foreach (IAdaptedTerm term in terms) term.BuildAdapter(studentShapes, teacher.FeatureShapes, options.Seed);
        return new AdapterList(terms.Select(t => t.Adapter!));
    }

    private static Dictionary<string, double> Means(Dictionary<string, double> sums, long count) =>
        sums.ToDictionary(kv => kv.Key, kv => kv.Value / Math.Max(1, count));

    /// <summary>
    /// Saves weights and optimiser state under names carrying the epoch, then the state file that points at them,
    /// then deletes the previous epoch's files: a run killed at any moment leaves a state file whose files exist.
    /// </summary>
    private static void Save(string directory, DistillModel model, Module? adapters, NesterovSgd optimizer, List<EpochRecord> history)
    {
        Directory.CreateDirectory(directory);
        int epoch = history.Count;
        string modelFile = $"epoch-{epoch}.model.pt", optimizerFile = $"epoch-{epoch}.optimizer.pt";
        string? adapterFile = adapters is null ? null : $"epoch-{epoch}.adapters.pt";
        Checkpoint.SaveAtomic(model, Path.Combine(directory, modelFile));
        if (adapters is not null) Checkpoint.SaveAtomic(adapters, Path.Combine(directory, adapterFile!));
        AtomicFile.Write(Path.Combine(directory, optimizerFile), optimizer.Save);
        var state = new CheckpointState(epoch, modelFile, optimizerFile, history, adapterFile);
        AtomicFile.WriteAllText(Path.Combine(directory, StateFile), JsonSerializer.Serialize(state, ResultJson.Options));
        foreach (string old in Directory.GetFiles(directory, "epoch-*.pt"))
        {
            string name = Path.GetFileName(old);
            if (name != modelFile && name != optimizerFile && name != adapterFile) File.Delete(old);
        }
    }

    private static List<EpochRecord> Restore(string directory, DistillModel model, Module? adapters, NesterovSgd optimizer, int epochs)
    {
        string statePath = Path.Combine(directory, StateFile);
        if (!File.Exists(statePath)) return [];
        CheckpointState state = JsonSerializer.Deserialize<CheckpointState>(File.ReadAllText(statePath), ResultJson.Options)
            ?? throw new InvalidDataException($"Checkpoint state '{statePath}' is empty.");
        if (!Checkpoint.TryLoad(model, Path.Combine(directory, state.ModelFile)))
            throw new InvalidDataException($"Checkpoint state '{statePath}' names '{state.ModelFile}', which is missing.");
        if (adapters is not null && (state.AdapterFile is null || !Checkpoint.TryLoad(adapters, Path.Combine(directory, state.AdapterFile))))
            throw new InvalidDataException($"Checkpoint state '{statePath}' has no adapters for this loss's learned adapters.");
        // A finished run needs its weights and history, not its optimiser.
        if (state.CompletedEpochs < epochs)
        {
            using var reader = new BinaryReader(File.OpenRead(Path.Combine(directory, state.OptimizerFile)));
            optimizer.Load(reader);
        }
        return [.. state.History];
    }

    /// <summary>What a checkpoint directory's state file holds.</summary>
    private sealed record CheckpointState(int CompletedEpochs, string ModelFile, string OptimizerFile, List<EpochRecord> History,
        string? AdapterFile = null);
}
