using System.Diagnostics;
using System.Text.Json;
using GpuDistill.Data;
using GpuDistill.Features;
using GpuDistill.Models;
using GpuDistill.Methods;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GpuDistill.Training;

/// <summary>
/// Trains one model, or several together (online schemes), each with its own weighted loss and its own optimiser:
/// SGD (Nesterov) with a cosine schedule, a test evaluation after each epoch, and an atomic, resumable checkpoint
/// of every model after each epoch.
/// </summary>
/// <remarks>
/// Every step runs each learner's forward pass first, then each learner's loss (a term may read the other
/// learners' logits, detached: <see cref="TermInputs.PeerLogits"/>), then each learner's backward pass and step, so
/// a peer always learns from the others' outputs before this step's updates. A frozen teacher, when a term needs
/// one, comes from <see cref="TeacherOutputs"/>: eval mode, no gradient.
/// </remarks>
/// <param name="options">Epochs, batch size, learning rate, seed.</param>
/// <param name="progress">Receives a report after every step and every epoch.</param>
/// <param name="batches">Where the training batches come from; null for the training set itself (shuffled, augmented
/// when the options say so). A source with state of its own (<see cref="ICheckpointedSource"/>) is checkpointed with
/// the models.</param>
/// <param name="distributed">How the run spreads over processes; null for the process-wide choice
/// (<see cref="Distributed.DistributedTraining.Current"/>: data-parallel under <c>mpirun ... --distributed</c>, one
/// process otherwise). Only rank 0 writes the checkpoints; every rank resumes from them.</param>
public sealed class Trainer(TrainingOptions options, IProgress<TrainingProgress>? progress = null, IBatchSource? batches = null,
    IDistributedTraining? distributed = null)
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
        TeacherOutputs? teacher, string? checkpointDirectory, bool resume, CancellationToken cancellationToken = default) =>
        FitTogether([new Learner(runName, model, loss)], train, test, teacher, checkpointDirectory, resume, cancellationToken)[0];

    /// <summary>Trains <paramref name="learners"/> together, step by step, and returns their records in order.</summary>
    /// <param name="learners">The models that learn, each with its loss (names distinct).</param>
    /// <param name="train">Training images.</param>
    /// <param name="test">Test images (each learner's accuracy after each epoch).</param>
    /// <param name="teacher">The frozen teacher's outputs, when a term needs them.</param>
    /// <param name="checkpointDirectory">Where to keep the checkpoint (every learner's files, one state); null for none.</param>
    /// <param name="resume">Continue from the last completed epoch in <paramref name="checkpointDirectory"/>.</param>
    /// <param name="cancellationToken">Stops after the current step (the last completed epoch stays saved).</param>
    /// <returns>One record per learner.</returns>
    public IReadOnlyList<TrainingRun> FitTogether(IReadOnlyList<Learner> learners, ImageDataset train, ImageDataset test,
        TeacherOutputs? teacher, string? checkpointDirectory, bool resume, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(learners);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(test);
        if (learners.Count == 0) throw new ArgumentException("At least one learner is needed.", nameof(learners));
        if (learners.Select(l => l.Name).Distinct(StringComparer.Ordinal).Count() != learners.Count)
            throw new ArgumentException($"Learner names must be distinct; got {string.Join(", ", learners.Select(l => l.Name))}.", nameof(learners));
        options.Validate();
        foreach (Learner learner in learners)
        {
            ArgumentNullException.ThrowIfNull(learner, nameof(learners));
            if (learner.Loss.NeedsTeacher && teacher is null)
                throw new ArgumentException($"Loss '{learner.Loss}' of '{learner.Name}' needs a teacher, but none was given.", nameof(teacher));
        }

        manual_seed(options.Seed);
        IDistributedTraining spread = distributed ?? Distributed.DistributedTraining.DataParallelRun() ?? OneProcess.Instance;
        IBatchSource batcher = spread.Batches(batches ?? TrainingBatches(train, options));
        var parts = new List<LearnerParts>();
        try
        {
            foreach (Learner learner in learners)
            {
                FeatureCapture? capture = BindFeatureTerms(learner.Model, learner.Loss, teacher);
                Module? adapters = BuildAdapters(learner.Model, learner.Loss, teacher, capture, batcher);
                TorchSharp.Modules.Parameter[] trainable = [.. (adapters is null
                    ? learner.Model.parameters()
                    : learner.Model.parameters().Concat(adapters.parameters())).Where(p => p.requires_grad)];
                parts.Add(new LearnerParts(learner, adapters, capture,
                    new NesterovSgd(trainable, options.LearningRate, options.Momentum, options.WeightDecay), [], trainable));
            }
            if (resume && checkpointDirectory is not null) Restore(checkpointDirectory, parts, batcher, options.Epochs);
            using IDisposable processes = spread.Begin(new DistributedStart(options,
                [.. parts.Select(p => new LearnerState(p.Learner.Model, p.Adapters, p.Optimizer, p.Trainable))],
                () => RunSettings(parts, train, test, teacher, batcher, checkpointDirectory)));
            int done = parts[0].History.Count;
            if (done > 0)
            {
                string runName = string.Join(" + ", parts.Select(p => p.Learner.Name));
                progress?.Report(TrainingProgress.Remark(runName, Math.Min(done + 1, options.Epochs), options.Epochs, batcher.BatchCount,
                    done >= options.Epochs ? $"finished earlier ({done} epochs): reusing it" : $"resuming from epoch {done + 1} of {options.Epochs}"));
            }
            // A teacher's cached outputs are computed at their first use: here, before any epoch's clock starts, so the
            // one pass over the training set is not counted as the first epoch's teacher time.
            if (parts[0].History.Count < options.Epochs && parts.Any(p => p.Learner.Loss.NeedsTeacher)) teacher?.EnsureComputed();
            // Terms with a stage of their own (MHGD) run it once before the first epoch; a resumed run restored its result.
            foreach (LearnerParts part in parts.Where(p => p.History.Count == 0))
            {
                foreach (IPreparedTerm term in part.Learner.Loss.Terms.Where(t => t.Weight != 0).Select(t => t.Term).OfType<IPreparedTerm>())
                {
                    term.Prepare(new TermPreparation(teacher ?? throw new ArgumentException($"Loss term '{term.Name}' is fitted on a teacher, but none was given.", nameof(teacher)),
                        batcher.Epoch, batcher.BatchCount, options.Seed, part.Learner.Name, progress, checkpointDirectory));
                }
            }

            for (int epoch = parts[0].History.Count; epoch < options.Epochs; epoch++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                foreach (LearnerParts part in parts)
                    part.Optimizer.LearningRate = options.LearningRate * 0.5 * (1 + Math.Cos(Math.PI * epoch / options.Epochs));
                EpochRecord[] records;
                try
                {
                    records = RunEpoch(parts, teacher, batcher, test, epoch, spread, cancellationToken);
                }
                catch (TrainingDivergedException e)
                {
                    string kept = checkpointDirectory is null || epoch == 0
                        ? "no checkpoint was written"
                        : $"the checkpoint of epoch {epoch} in {checkpointDirectory} is kept";
                    throw new TrainingDivergedException(
                        $"{e.Message} (learning rate {parts[0].Optimizer.LearningRate:G3}); {kept}. Lower the learning rate or the term's weight.", e)
                    { What = e.What, Epoch = e.Epoch, Step = e.Step };
                }
                for (int i = 0; i < parts.Count; i++) parts[i].History.Add(records[i]);
                if (checkpointDirectory is not null && spread.Rank == 0) Save(checkpointDirectory, parts, batcher);
            }
            return [.. parts.Select(p => new TrainingRun(p.Learner.Name, p.Learner.Model.Architecture, p.Learner.Model.ParameterCount,
                options.Seed, p.Learner.Loss.ToString(), p.History, p.Adapters?.parameters().Sum(x => x.numel()) ?? 0))];
        }
        finally
        {
            foreach (LearnerParts part in parts) part.Capture?.Dispose();
        }
    }

    /// <summary>What one learner trains with.</summary>
    private sealed record LearnerParts(Learner Learner, Module? Adapters, FeatureCapture? Capture, NesterovSgd Optimizer,
        List<EpochRecord> History, TorchSharp.Modules.Parameter[] Trainable);

    /// <summary>One learner's running sums over an epoch.</summary>
    private sealed class EpochSums
    {
        public Dictionary<string, double> Terms { get; } = [];
        public double Loss, Teacher, Forward, LossTime, Backward, Batches, Correct, Seen;
    }

    private EpochRecord[] RunEpoch(List<LearnerParts> parts, TeacherOutputs? teacher, IBatchSource batcher,
        ImageDataset test, int epoch, IDistributedTraining spread, CancellationToken cancellationToken)
    {
        foreach (LearnerParts part in parts)
        {
            part.Learner.Model.train();
            part.Adapters?.train();
        }
        var sums = parts.Select(_ => new EpochSums()).ToArray();
        var termValues = new Dictionary<string, double>();
        bool needsTeacher = parts.Any(p => p.Learner.Loss.NeedsTeacher);
        string runName = string.Join(" + ", parts.Select(p => p.Learner.Name));
        long seen = 0;
        int step = 0, steps = batcher.BatchCount;
        var clock = Stopwatch.StartNew();

        using IEnumerator<ImageBatch> batches = batcher.Epoch(epoch).GetEnumerator();
        while (true)
        {
            // Making the batch is part of the step: a generator's steps happen here, in the source.
            long m0 = Stopwatch.GetTimestamp();
            if (!batches.MoveNext()) break;
            double batchSeconds = Stopwatch.GetElapsedTime(m0).TotalSeconds;
            ImageBatch batch = batches.Current;
            foreach (EpochSums s in sums) s.Batches += batchSeconds;
            cancellationToken.ThrowIfCancellationRequested();
            using (batch)
            using (var scope = NewDisposeScope())
            {
                try
                {
                    long t0 = Stopwatch.GetTimestamp();
                    TeacherBatch? teacherBatch = needsTeacher ? teacher!.Get(batch) : null;
                    double teacherSeconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                    var outputs = new ModelOutput?[parts.Count];
                    for (int i = 0; i < parts.Count; i++)
                    {
                        if (!spread.Steps(i)) continue;
                        long f0 = Stopwatch.GetTimestamp();
                        outputs[i] = parts[i].Learner.Model.Forward(batch.Images);
                        sums[i].Forward += Stopwatch.GetElapsedTime(f0).TotalSeconds;
                        sums[i].Teacher += teacherSeconds;
                        if (!isfinite(outputs[i]!.Logits).all().item<bool>())
                            throw Diverged(parts[i], "the student's logits", epoch, step);
                    }
                    // Peers learn from each other's outputs as they were before this step's updates, without gradient.
                    IReadOnlyList<Tensor> detached = parts.Count > 1 ? spread.Logits([.. outputs.Select(o => o?.Logits.detach())]) : [];
                    var totals = new Tensor[parts.Count];
                    for (int i = 0; i < parts.Count; i++)
                    {
                        if (!spread.Steps(i)) continue;
                        long l0 = Stopwatch.GetTimestamp();
                        termValues.Clear();
                        FeatureCapture? capture = parts[i].Capture;
                        var inputs = new TermInputs(outputs[i]!.Logits, teacherBatch?.Logits, batch.Labels, epoch, options.Epochs,
                            capture is null ? null : capture.Layers.ToDictionary(l => l, l => capture[l], StringComparer.Ordinal),
                            teacherBatch?.Features)
                        {
                            PeerLogits = [.. detached.Where((_, j) => j != i)],
                            TeacherEnsembleLogits = teacherBatch?.EnsembleLogits,
                            TeacherExamples = teacherBatch?.Examples,
                        };
                        try
                        {
                            totals[i] = parts[i].Learner.Loss.Compute(inputs, termValues);
                        }
                        catch (NonFiniteTermException e)
                        {
                            throw Diverged(parts[i], $"loss term '{e.Term}'", epoch, step, e);
                        }
                        catch (ArgumentException e) when (inputs.StudentFeatures?.Values.Any(f => !isfinite(f).all().item<bool>()) == true)
                        {
                            // A loss refusing a non-finite student layer: the student diverged, the input was fine.
                            throw Diverged(parts[i], "a student layer", epoch, step, e);
                        }
                        foreach ((string name, double v) in termValues)
                            sums[i].Terms[name] = sums[i].Terms.GetValueOrDefault(name) + v * batch.Count;
                        sums[i].LossTime += Stopwatch.GetElapsedTime(l0).TotalSeconds;
                    }
                    double scale = spread.LossScale(batch);
                    for (int i = 0; i < parts.Count; i++)
                    {
                        if (!spread.Steps(i)) continue;
                        long b0 = Stopwatch.GetTimestamp();
                        parts[i].Optimizer.ZeroGrad();
                        spread.BeforeBackward(i);
                        if (scale == 1)
                        {
                            totals[i].backward();
                        }
                        else
                        {
                            using Scalar factor = scale.ToScalar();
                            totals[i].mul(factor).backward();
                        }
                        spread.AfterBackward(i);
                        parts[i].Optimizer.Step();
                        sums[i].Backward += Stopwatch.GetElapsedTime(b0).TotalSeconds;

                        double value = totals[i].item<float>();
                        if (!double.IsFinite(value)) throw Diverged(parts[i], "the loss", epoch, step);
                        sums[i].Loss += value * batch.Count;
                        sums[i].Correct += outputs[i]!.Logits.argmax(1).eq(batch.Labels).sum().item<long>();
                        sums[i].Seen += batch.Count;
                    }
                    foreach (ModelOutput? output in outputs) output?.Dispose();
                    seen += batch.Count;
                    step++;
                }
                finally
                {
                    // The captures hold the step's activations: free them every step.
                    foreach (LearnerParts part in parts) part.Capture?.Clear();
                }
            }
            progress?.Report(new TrainingProgress(runName, epoch + 1, options.Epochs, step, steps, ProgressTerms(parts, sums, seen),
                sums[0].Correct / (double)seen, seen / clock.Elapsed.TotalSeconds, null));
        }

        double seconds = clock.Elapsed.TotalSeconds;
        ReduceSums(parts, sums, spread);
        spread.EndEpoch();
        var records = new EpochRecord[parts.Count];
        for (int i = 0; i < parts.Count; i++)
        {
            double accuracy = Evaluation.Accuracy(parts[i].Learner.Model, test);
            parts[i].Capture?.Clear();
            EpochSums s = sums[i];
            // Learners share the epoch's wall time; each one's split shows its own forward, loss and backward.
            records[i] = new EpochRecord(epoch + 1, s.Loss / s.Seen, Means(s.Terms, (long)s.Seen), accuracy, seconds,
                new StepTimeSplit(s.Teacher, s.Forward, s.LossTime, s.Backward, s.Batches));
        }
        long total = (long)sums[0].Seen;
        progress?.Report(new TrainingProgress(runName, epoch + 1, options.Epochs, steps, steps, ProgressTerms(parts, sums, total),
            sums[0].Correct / total, total / seconds, records[0].TestAccuracy));
        return records;
    }

    /// <summary>Sums every learner's epoch totals over the processes (one process: unchanged). Each learner's terms
    /// are the ones its loss computes, in its order, so every process packs them alike.</summary>
    private static void ReduceSums(List<LearnerParts> parts, EpochSums[] sums, IDistributedTraining spread)
    {
        if (spread.Size == 1) return;
        string[][] names = [.. parts.Select(p => p.Learner.Loss.Terms.Where(t => t.Weight != 0).Select(t => t.Term.Name).ToArray())];
        var counts = new List<double>();
        var seconds = new List<double>();
        for (int i = 0; i < parts.Count; i++)
        {
            EpochSums s = sums[i];
            counts.AddRange([s.Loss, s.Correct, s.Seen, .. names[i].Select(n => s.Terms.GetValueOrDefault(n))]);
            seconds.AddRange([s.Teacher, s.Forward, s.LossTime, s.Backward, s.Batches]);
        }
        double[] c = [.. counts], t = [.. seconds];
        spread.Reduce(c, t);
        for (int i = 0, k = 0, j = 0; i < parts.Count; i++)
        {
            EpochSums s = sums[i];
            (s.Loss, s.Correct, s.Seen) = (c[k], c[k + 1], c[k + 2]);
            k += 3;
            foreach (string name in names[i]) s.Terms[name] = c[k++];
            (s.Teacher, s.Forward, s.LossTime, s.Backward, s.Batches) = (t[j], t[j + 1], t[j + 2], t[j + 3], t[j + 4]);
            j += 5;
        }
    }

    /// <summary>What the processes of a distributed run must agree on, one "name: value" line each.</summary>
    private List<string> RunSettings(List<LearnerParts> parts, ImageDataset train, ImageDataset test, TeacherOutputs? teacher,
        IBatchSource batcher, string? checkpointDirectory)
    {
        var lines = new List<string>
        {
            $"options: {options}",
            // A data-free run's training set is withheld (its reads throw): its size and source are all there is.
            $"training set: {train.Source}, {train.Count} images, checksum {(train.IsWithheld ? "withheld" : DatasetChecksum.Of(train))}",
            $"test set: {test.Source}, {test.Count} images",
            $"batches per epoch: {batcher.BatchCount}",
            $"teacher: {(teacher is null ? "none" : $"{teacher.Model.Architecture}, {(teacher.IsCached ? "cached" : "live")}")}",
            $"checkpoint: {checkpointDirectory ?? "none"}, completed epochs {parts[0].History.Count}",
        };
        lines.AddRange(parts.Select((p, i) =>
            $"learner {i}: {p.Learner.Name}, {p.Learner.Model.Architecture}, {p.Trainable.Sum(t => t.numel())} trainable parameters, loss {p.Learner.Loss}"));
        return lines;
    }

    /// <summary>The training set's batches as the trainer makes them by default: shuffled by the options' seed, flipped
    /// and cropped when they say augment.</summary>
    /// <param name="train">The training images.</param>
    /// <param name="options">Batch size, seed and augmentation.</param>
    /// <returns>A new batcher.</returns>
    public static ImageBatcher TrainingBatches(ImageDataset train, TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new ImageBatcher(train, options.BatchSize, new BatchOptions
        {
            Shuffle = true,
            Seed = options.Seed,
            Augmentation = options.Augment ? ImageAugmentation.HorizontalFlip | ImageAugmentation.RandomCrop : ImageAugmentation.None,
        });
    }

    private static TrainingDivergedException Diverged(LearnerParts part, string what, int epoch, int step, Exception? cause = null) =>
        new($"{part.Learner.Name}: training diverged: {what} became NaN or infinite at epoch {epoch + 1}, step {step + 1}", cause!)
        {
            What = what,
            Epoch = epoch + 1,
            Step = step + 1,
        };

    /// <summary>The running term means to show: one learner's as they are, several learners' prefixed by their names.</summary>
    private static Dictionary<string, double> ProgressTerms(List<LearnerParts> parts, EpochSums[] sums, long seen)
    {
        if (parts.Count == 1) return Means(sums[0].Terms, seen);
        var terms = new Dictionary<string, double>();
        for (int i = 0; i < parts.Count; i++)
        {
            foreach ((string name, double value) in Means(sums[i].Terms, seen))
                terms[$"{ShortName(parts[i].Learner.Name)}.{name}"] = value;
        }
        return terms;

        static string ShortName(string name) => name[(name.LastIndexOf('/') + 1)..];
    }

    /// <summary>
    /// Resolves the feature terms' layers for this student and its teacher (the student itself for a term without
    /// one: self-distillation) and hooks the student's; null when no term reads features.
    /// </summary>
    private static FeatureCapture? BindFeatureTerms(DistillModel model, WeightedLoss loss, TeacherOutputs? teacher)
    {
        List<IFeatureTerm> terms = loss.Terms.Where(t => t.Weight != 0).Select(t => t.Term).OfType<IFeatureTerm>().ToList();
        if (terms.Count == 0) return null;
        foreach (IFeatureTerm term in terms)
        {
            if (!term.NeedsTeacher)
            {
                term.Bind(model, model);
                continue;
            }
            if (teacher is null)
                throw new ArgumentException($"Loss '{loss}' reads teacher layers, but no teacher was given.", nameof(teacher));
            term.Bind(model, teacher.Model);
        }
        string[] missing = terms.Where(t => t.NeedsTeacher).SelectMany(t => t.TeacherLayers)
            .Where(l => !teacher!.FeatureShapes.ContainsKey(LayerPath.Parse(l).ToString())).Distinct().ToArray();
        if (missing.Length > 0)
            throw new ArgumentException(
                $"The teacher's outputs were prepared without layer(s) {string.Join(", ", missing)}; create them with those layers (TeacherOutputs.Create(..., layers)).",
                nameof(teacher));
        return new FeatureCapture(model, terms.SelectMany(t => t.StudentLayers));
    }

    /// <summary>
    /// Builds the learned adapters of the loss's terms from one probe pass of the student (eval mode, no gradient) and
    /// the teacher's layer shapes (the student's own for a term without teacher); null when no term has any.
    /// </summary>
    private AdapterList? BuildAdapters(DistillModel model, WeightedLoss loss, TeacherOutputs? teacher, FeatureCapture? capture, IBatchSource batcher)
    {
        List<IAdaptedTerm> terms = loss.Terms.Where(t => t.Weight != 0).Select(t => t.Term).OfType<IAdaptedTerm>().ToList();
        if (terms.Count == 0 || capture is null) return null;
        Dictionary<string, long[]> studentShapes;
        using (ImageBatch probe = batcher.Epoch(0).First()) studentShapes = capture.Shapes(model, probe.Images);
        foreach (IAdaptedTerm term in terms)
            term.BuildAdapter(studentShapes, term.NeedsTeacher ? teacher!.FeatureShapes : studentShapes, options.Seed);
        return new AdapterList(terms.Select(t => t.Adapter!));
    }

    private static Dictionary<string, double> Means(Dictionary<string, double> sums, long count) =>
        sums.ToDictionary(kv => kv.Key, kv => kv.Value / Math.Max(1, count));

    /// <summary>
    /// Saves every learner's weights, adapters and optimiser state under names carrying the epoch, then the one state
    /// file that points at all of them, then deletes the previous epoch's files: a run killed at any moment leaves a
    /// state file whose files exist, and all learners at the same epoch.
    /// </summary>
    private static void Save(string directory, List<LearnerParts> parts, IBatchSource source)
    {
        Directory.CreateDirectory(directory);
        int epoch = parts[0].History.Count;
        var files = new List<LearnerFiles>();
        for (int i = 0; i < parts.Count; i++)
        {
            // The first learner keeps the single-model names, so checkpoints of one model read as before.
            string prefix = i == 0 ? $"epoch-{epoch}" : $"epoch-{epoch}.peer{i}";
            LearnerParts part = parts[i];
            var f = new LearnerFiles(part.Learner.Name, $"{prefix}.model.pt", $"{prefix}.optimizer.pt",
                part.Adapters is null ? null : $"{prefix}.adapters.pt", part.History);
            Checkpoint.SaveAtomic(part.Learner.Model, Path.Combine(directory, f.ModelFile));
            if (part.Adapters is not null) Checkpoint.SaveAtomic(part.Adapters, Path.Combine(directory, f.AdapterFile!));
            AtomicFile.Write(Path.Combine(directory, f.OptimizerFile), part.Optimizer.Save);
            files.Add(f);
        }
        List<string>? sourceFiles = source is ICheckpointedSource checkpointed ? [.. checkpointed.Save(directory, $"epoch-{epoch}.source")] : null;
        LearnerFiles first = files[0];
        var state = new CheckpointState(epoch, first.ModelFile, first.OptimizerFile, first.History, first.AdapterFile,
            files.Count > 1 ? files.Skip(1).ToList() : null, sourceFiles);
        AtomicFile.WriteAllText(Path.Combine(directory, StateFile), JsonSerializer.Serialize(state, ResultJson.Options));
        var keep = files.SelectMany(f => new[] { f.ModelFile, f.OptimizerFile, f.AdapterFile }).OfType<string>()
            .Concat(sourceFiles ?? []).ToHashSet(StringComparer.Ordinal);
        foreach (string old in Directory.GetFiles(directory, "epoch-*.pt"))
        {
            if (!keep.Contains(Path.GetFileName(old))) File.Delete(old);
        }
    }

    private static void Restore(string directory, List<LearnerParts> parts, IBatchSource source, int epochs)
    {
        string statePath = Path.Combine(directory, StateFile);
        if (!File.Exists(statePath)) return;
        CheckpointState state = JsonSerializer.Deserialize<CheckpointState>(File.ReadAllText(statePath), ResultJson.Options)
            ?? throw new InvalidDataException($"Checkpoint state '{statePath}' is empty.");
        List<LearnerFiles> files = [new LearnerFiles(parts[0].Learner.Name, state.ModelFile, state.OptimizerFile, state.AdapterFile, state.History),
            .. state.Peers ?? []];
        if (files.Count != parts.Count)
            throw new InvalidDataException($"Checkpoint state '{statePath}' holds {files.Count} model(s); this run trains {parts.Count}.");
        for (int i = 0; i < parts.Count; i++)
        {
            (LearnerFiles f, LearnerParts part) = (files[i], parts[i]);
            if (!Checkpoint.TryLoad(part.Learner.Model, Path.Combine(directory, f.ModelFile)))
                throw new InvalidDataException($"Checkpoint state '{statePath}' names '{f.ModelFile}', which is missing.");
            if (part.Adapters is not null && (f.AdapterFile is null || !Checkpoint.TryLoad(part.Adapters, Path.Combine(directory, f.AdapterFile))))
                throw new InvalidDataException($"Checkpoint state '{statePath}' has no adapters for the learned adapters of '{part.Learner.Name}'.");
            // A finished run needs its weights and history, not its optimiser.
            if (state.CompletedEpochs < epochs)
            {
                using var reader = new BinaryReader(File.OpenRead(Path.Combine(directory, f.OptimizerFile)));
                part.Optimizer.Load(reader);
            }
            part.History.AddRange(f.History);
        }
        if (source is ICheckpointedSource checkpointed && state.CompletedEpochs < epochs)
        {
            if (state.SourceFiles is null)
                throw new InvalidDataException($"Checkpoint state '{statePath}' has no state of the run's batch source.");
            checkpointed.Load(directory, state.SourceFiles);
        }
    }

    /// <summary>What a checkpoint directory's state file holds: the first learner's files inline (the single-model
    /// layout), the others' in <paramref name="Peers"/>.</summary>
    private sealed record CheckpointState(int CompletedEpochs, string ModelFile, string OptimizerFile, List<EpochRecord> History,
        string? AdapterFile = null, List<LearnerFiles>? Peers = null, List<string>? SourceFiles = null);

    /// <summary>One learner's files in a checkpoint.</summary>
    private sealed record LearnerFiles(string Name, string ModelFile, string OptimizerFile, string? AdapterFile, List<EpochRecord> History);
}

/// <summary>A model that learns, with its loss.</summary>
/// <param name="Name">Its name in progress lines and results (distinct within one training).</param>
/// <param name="Model">The model (its weights change).</param>
/// <param name="Loss">Its weighted loss terms.</param>
public sealed record Learner(string Name, DistillModel Model, WeightedLoss Loss);
