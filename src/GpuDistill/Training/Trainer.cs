using System.Diagnostics;
using System.Text.Json;
using GpuDistill.Data;
using GpuDistill.Models;
using GpuDistill.Training.Terms;
using TorchSharp;
using static TorchSharp.torch;

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
        var optimizer = new NesterovSgd(model.parameters(), options.LearningRate, options.Momentum, options.WeightDecay);
        var history = new List<EpochRecord>();
        if (resume && checkpointDirectory is not null)
            history = Restore(checkpointDirectory, model, optimizer, options.Epochs);

        var batcher = new ImageBatcher(train, options.BatchSize, new BatchOptions
        {
            Shuffle = true,
            Seed = options.Seed,
            Augmentation = options.Augment ? ImageAugmentation.HorizontalFlip | ImageAugmentation.RandomCrop : ImageAugmentation.None,
        });

        for (int epoch = history.Count; epoch < options.Epochs; epoch++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            optimizer.LearningRate = options.LearningRate * 0.5 * (1 + Math.Cos(Math.PI * epoch / options.Epochs));
            EpochRecord record = RunEpoch(runName, model, loss, batcher, test, teacher, optimizer, epoch, cancellationToken);
            history.Add(record);
            if (checkpointDirectory is not null) Save(checkpointDirectory, model, optimizer, history);
        }
        return new TrainingRun(runName, model.Architecture, model.ParameterCount, options.Seed, loss.ToString(), history);
    }

    private EpochRecord RunEpoch(string runName, DistillModel model, WeightedLoss loss, ImageBatcher batcher,
        ImageDataset test, TeacherOutputs? teacher, NesterovSgd optimizer, int epoch, CancellationToken cancellationToken)
    {
        model.train();
        var sums = new Dictionary<string, double>();
        var parts = new Dictionary<string, double>();
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
                long t0 = Stopwatch.GetTimestamp();
                Tensor? teacherLogits = loss.NeedsTeacher ? teacher!.Logits(batch) : null;
                long t1 = Stopwatch.GetTimestamp();
                using ModelOutput output = model.Forward(batch.Images);
                long t2 = Stopwatch.GetTimestamp();
                parts.Clear();
                Tensor total = loss.Compute(new TermInputs(output.Logits, teacherLogits, batch.Labels, epoch, options.Epochs), parts);
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
                foreach ((string name, double v) in parts) sums[name] = sums.GetValueOrDefault(name) + v * batch.Count;
                correct += output.Logits.argmax(1).eq(batch.Labels).sum().item<long>();
                seen += batch.Count;
                step++;
            }
            progress?.Report(new TrainingProgress(runName, epoch + 1, options.Epochs, step, steps, Means(sums, seen),
                correct / (double)seen, seen / clock.Elapsed.TotalSeconds, null));
        }

        double seconds = clock.Elapsed.TotalSeconds;
        double accuracy = Evaluation.Accuracy(model, test);
        IReadOnlyDictionary<string, double> means = Means(sums, seen);
        progress?.Report(new TrainingProgress(runName, epoch + 1, options.Epochs, steps, steps, means,
            correct / (double)seen, seen / seconds, accuracy));
        return new EpochRecord(epoch + 1, lossSum / seen, means, accuracy, seconds,
            new StepTimeSplit(teacherTime, forwardTime, lossTime, backwardTime));
    }

    private static Dictionary<string, double> Means(Dictionary<string, double> sums, long count) =>
        sums.ToDictionary(kv => kv.Key, kv => kv.Value / Math.Max(1, count));

    /// <summary>
    /// Saves weights and optimiser state under names carrying the epoch, then the state file that points at them,
    /// then deletes the previous epoch's files: a run killed at any moment leaves a state file whose files exist.
    /// </summary>
    private static void Save(string directory, DistillModel model, NesterovSgd optimizer, List<EpochRecord> history)
    {
        Directory.CreateDirectory(directory);
        int epoch = history.Count;
        string modelFile = $"epoch-{epoch}.model.pt", optimizerFile = $"epoch-{epoch}.optimizer.pt";
        Checkpoint.SaveAtomic(model, Path.Combine(directory, modelFile));
        AtomicFile.Write(Path.Combine(directory, optimizerFile), optimizer.Save);
        var state = new CheckpointState(epoch, modelFile, optimizerFile, history);
        AtomicFile.WriteAllText(Path.Combine(directory, StateFile), JsonSerializer.Serialize(state, ResultJson.Options));
        foreach (string old in Directory.GetFiles(directory, "epoch-*.pt"))
        {
            string name = Path.GetFileName(old);
            if (name != modelFile && name != optimizerFile) File.Delete(old);
        }
    }

    private static List<EpochRecord> Restore(string directory, DistillModel model, NesterovSgd optimizer, int epochs)
    {
        string statePath = Path.Combine(directory, StateFile);
        if (!File.Exists(statePath)) return [];
        CheckpointState state = JsonSerializer.Deserialize<CheckpointState>(File.ReadAllText(statePath), ResultJson.Options)
            ?? throw new InvalidDataException($"Checkpoint state '{statePath}' is empty.");
        if (!Checkpoint.TryLoad(model, Path.Combine(directory, state.ModelFile)))
            throw new InvalidDataException($"Checkpoint state '{statePath}' names '{state.ModelFile}', which is missing.");
        // A finished run needs its weights and history, not its optimiser.
        if (state.CompletedEpochs < epochs)
        {
            using var reader = new BinaryReader(File.OpenRead(Path.Combine(directory, state.OptimizerFile)));
            optimizer.Load(reader);
        }
        return [.. state.History];
    }

    /// <summary>What a checkpoint directory's state file holds.</summary>
    private sealed record CheckpointState(int CompletedEpochs, string ModelFile, string OptimizerFile, List<EpochRecord> History);
}
