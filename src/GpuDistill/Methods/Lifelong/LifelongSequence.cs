using System.Globalization;
using System.Text.Json;
using GpuDistill.Data;
using GpuDistill.Features;
using GpuDistill.Models;
using GpuDistill.Training;
using static TorchSharp.torch;

namespace GpuDistill.Methods;

/// <summary>
/// Runs the lifelong methods of one student and seed through a task sequence. Each task's training is one trainer
/// run with its own checkpoint directory, so a sequence resumes where it stopped: finished tasks are reloaded, an
/// unfinished one continues from its last epoch. The first task is the same for every method and scenario (plain
/// cross-entropy on its classes), so it is trained once and shared.
/// </summary>
internal sealed class LifelongSequence : IDisposable
{
    private readonly SchemeContext context;
    private readonly LifelongSettings settings;
    private readonly TaskSplit split;
    private readonly string student;
    private readonly int seed;
    private readonly string root;
    private readonly ImageDataset[] taskTrain;
    private readonly ImageDataset[] taskTest;
    private readonly int[][] trainIndicesOfClass;
    private ClassMaskedModel? first;
    private TrainingRun? firstRun;
    private double[]? initial;
    private ExemplarMemory? firstMemory;

    public LifelongSequence(SchemeContext context, LifelongSettings settings, TaskSplit split, string student, int seed)
    {
        this.context = context;
        this.settings = settings;
        this.split = split;
        this.student = student;
        this.seed = seed;
        string key = string.Join('_', Enumerable.Range(0, split.Count).Select(t => string.Join('.', split.Classes(t))));
        root = Path.Combine(context.OutputDirectory, "checkpoints", "lifelong", key, student, $"seed{seed}");
        context.ClaimSchemeDirectory(root, Options(context.Recipe.Training.Epochs), readsTeacher: false);
        trainIndicesOfClass = IndicesOfClass(context.Train);
        int[][] testIndicesOfClass = IndicesOfClass(context.Test);
        taskTrain = [.. Enumerable.Range(0, split.Count).Select(t => Subset(context.Train, trainIndicesOfClass, split.Classes(t), $"task {t + 1} train"))];
        taskTest = [.. Enumerable.Range(0, split.Count).Select(t => Subset(context.Test, testIndicesOfClass, split.Classes(t), $"task {t + 1} test"))];
    }

    /// <summary>Trains (or reloads) <paramref name="method"/> through every task in <paramref name="scenario"/> and
    /// returns its records: by its outputs, and by the nearest mean of exemplars for a method with a memory when the
    /// settings ask for it.</summary>
    public IReadOnlyList<SequenceResult> Run(string scenario, string method)
    {
        (ClassMaskedModel shared, TrainingRun sharedRun) = FirstTask();
        bool task = scenario == "task";
        bool keepsMemory = method is "replay" or "icarl";
        int tasks = split.Count, classes = context.Train.ClassCount;
        using var model = new ClassMaskedModel(ModelFactory.Create(student, seed), classes);
        DistillModel net = model.Network;
        CopyWeights(shared.Network, net);
        ExemplarMemory? memory = keepsMemory ? FirstMemory() : null;
        var outputs = new double[tasks][];
        var nearestMean = new double[tasks][];
        (outputs[0], nearestMean[0]) = Evaluate(net, 0, task, memory);
        double seconds = sharedRun.TrainSeconds;
        string loss = sharedRun.Loss;
        string directory = Path.Combine(root, scenario, MethodKey(method));
        for (int t = 1; t < tasks; t++)
        {
            string taskDirectory = Path.Combine(directory, $"task{t + 1}");
            string runName = $"lifelong/{scenario}/{method}/{student}/seed{seed}/task{t + 1}";
            model.Activate(split.SeenClasses(t));
            ImageDataset train = method switch
            {
                "joint" => Union(Enumerable.Range(0, t + 1).SelectMany(k => split.Classes(k)).SelectMany(c => trainIndicesOfClass[c]), $"tasks 1-{t + 1} train"),
                "replay" or "icarl" => Union(split.Classes(t).SelectMany(c => trainIndicesOfClass[c]).Concat(memory!.All), $"task {t + 1} train and {memory.All.Count} exemplars"),
                _ => taskTrain[t],
            };
            // Task-incremental: each example's softmax runs over its own task's head; class-incremental: over every class seen.
            IReadOnlyList<IReadOnlyList<int>> heads = task
                ? [.. Enumerable.Range(0, t + 1).Select(split.Classes)]
                : [split.SeenClasses(t)];
            var terms = new List<(ILossTerm Term, double Weight)> { (new GroupedCrossEntropyTerm(heads, classes), 1.0) };
            DistillModel? previous = null;
            TeacherOutputs? teacher = null;
            try
            {
                if (method is "lwf" or "icarl")
                {
                    // The previous model's outputs, recorded once on this task's training images (LwF's Y_o).
                    previous = ModelFactory.Create(student, seed);
                    CopyWeights(net, previous);
                    teacher = TeacherOutputs.Create(previous, train, cache: !context.Recipe.Data.Augment);
                    IReadOnlyList<IReadOnlyList<int>> oldHeads = task
                        ? [.. Enumerable.Range(0, t).Select(split.Classes)]
                        : [split.SeenClasses(t - 1)];
                    terms.Add((new OldClassDistillationTerm(method == "lwf" ? "lwf" : "kd-old", oldHeads, settings.Temperature), settings.DistillationWeight));
                }
                if (method == "lwf" && settings.WarmupEpochs > 0)
                {
                    TrainingRun warmup = WarmUpHead(model, t, train, runName, Path.Combine(taskDirectory, "warmup"));
                    seconds += warmup.TrainSeconds;
                }
                var weighted = new WeightedLoss(terms);
                TrainingRun run = new Trainer(Options(context.Recipe.Training.Epochs), context.Progress).Fit(runName, model, weighted,
                    train, taskTest[t], weighted.NeedsTeacher ? teacher : null, Path.Combine(taskDirectory, "train"), context.Resume,
                    context.CancellationToken);
                seconds += run.TrainSeconds;
                loss = run.Loss;
            }
            finally
            {
                teacher?.Dispose();
                previous?.Dispose();
            }
            if (memory is not null) memory = UpdateMemory(net, memory, t, Path.Combine(taskDirectory, "memory.json"));
            (outputs[t], nearestMean[t]) = Evaluate(net, t, task, memory);
        }

        string splitText = split.ToString();
        var results = new List<SequenceResult> { SequenceResult.Of(scenario, method, "outputs", seed, splitText, outputs, initial!, seconds, loss) };
        if (keepsMemory && settings.Nme)
            results.Add(SequenceResult.Of(scenario, method, "nme", seed, splitText, nearestMean, initial!, seconds, loss));
        return results;
    }

    /// <summary>Parameters of the network.</summary>
    public long Parameters => FirstTask().Model.ParameterCount;

    public void Dispose() => first?.Dispose();

    /// <summary>The first task, trained once for every method and scenario (or reloaded from its checkpoint).</summary>
    private (ClassMaskedModel Model, TrainingRun Run) FirstTask()
    {
        if (first is not null) return (first, firstRun!);
        var model = new ClassMaskedModel(ModelFactory.Create(student, seed), context.Train.ClassCount);
        try
        {
            // b_j of forward transfer: the untrained model, task identity given.
            NetworkPass[] untrained = [.. taskTest.Select(d => NetworkPass.Run(model.Network, d))];
            initial = [.. untrained.Select((p, j) => p.OutputAccuracy(split.Classes(j)))];
            model.Activate(split.Classes(0));
            var loss = new WeightedLoss([(new GroupedCrossEntropyTerm([split.Classes(0)], context.Train.ClassCount), 1.0)]);
            firstRun = new Trainer(Options(context.Recipe.Training.Epochs), context.Progress).Fit($"lifelong/{student}/seed{seed}/task1",
                model, loss, taskTrain[0], taskTest[0], null, Path.Combine(root, "task1"), context.Resume, context.CancellationToken);
            first = model;
            return (first, firstRun);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>The memory after the first task (the same for every method that keeps one).</summary>
    private ExemplarMemory FirstMemory()
    {
        if (firstMemory is not null) return firstMemory;
        var empty = new ExemplarMemory();
        firstMemory = UpdateMemory(first!.Network, empty, 0, Path.Combine(root, "task1", $"memory-{settings.Memory}.json"));
        return firstMemory;
    }

    /// <summary>
    /// LwF's warm-up: only the classifier head learns the new task (cross-entropy over the new task's classes), the
    /// shared layers frozen, at the warm-up's learning rate; its own trainer run and checkpoint.
    /// </summary>
    private TrainingRun WarmUpHead(ClassMaskedModel model, int t, ImageDataset train, string runName, string directory)
    {
        DistillModel net = model.Network;
        string head = LayerPath.Parse(net.EmbeddingLayer).Module + ".";
        foreach ((string name, TorchSharp.Modules.Parameter p) in net.named_parameters())
            p.requires_grad = name.StartsWith(head, StringComparison.Ordinal);
        try
        {
            var loss = new WeightedLoss([(new GroupedCrossEntropyTerm([split.Classes(t)], context.Train.ClassCount), 1.0)]);
            TrainingOptions options = Options(settings.WarmupEpochs);
            options = options with { LearningRate = settings.WarmupLearningRate ?? options.LearningRate / 10 };
            return new Trainer(options, context.Progress).Fit(runName + "/warmup", model, loss, train, taskTest[t],
                null, directory, context.Resume, context.CancellationToken);
        }
        finally
        {
            foreach (TorchSharp.Modules.Parameter p in net.parameters()) p.requires_grad = true;
        }
    }

    /// <summary>
    /// The memory after task <paramref name="t"/>: the new classes ranked by herding on the network's normalised
    /// features, every class's share cut to ceil(memory / classes seen); read back from <paramref name="path"/> when
    /// an earlier run wrote it.
    /// </summary>
    private ExemplarMemory UpdateMemory(DistillModel net, ExemplarMemory previous, int t, string path)
    {
        if (context.Resume && File.Exists(path))
            return JsonSerializer.Deserialize<ExemplarMemory>(File.ReadAllText(path), ResultJson.Options)!;
        int share = ExemplarMemory.Share(settings.Memory, split.SeenClasses(t).Count);
        var ranked = new Dictionary<int, int[]>(previous.Ranked);
        foreach (int c in split.Classes(t))
        {
            int[] indices = trainIndicesOfClass[c];
            NetworkPass pass = NetworkPass.Run(net, context.Train.Subset(indices, $"class {c}"));
            IReadOnlyList<int> order = Herding.Rank(pass.Features, share, Math.Max(1000, 10 * share));
            ranked[c] = [.. order.Select(i => indices[i])];
        }
        var memory = new ExemplarMemory { Ranked = ranked, PerClass = share };
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(memory, ResultJson.Options));
        return memory;
    }

    /// <summary>Row <paramref name="t"/> of the accuracy matrices: every task's test accuracy by the outputs and by the
    /// nearest mean of exemplars (NaN without a memory).</summary>
    private (double[] Outputs, double[] NearestMean) Evaluate(DistillModel net, int t, bool task, ExemplarMemory? memory)
    {
        Dictionary<int, double[]> means = memory is null ? [] : ClassMeans(net, memory);
        var outputs = new double[split.Count];
        var nearest = new double[split.Count];
        for (int j = 0; j < split.Count; j++)
        {
            NetworkPass pass = NetworkPass.Run(net, taskTest[j]);
            IReadOnlyList<int> candidates = task ? split.Classes(j) : split.SeenClasses(t);
            outputs[j] = pass.OutputAccuracy(candidates);
            nearest[j] = memory is null ? double.NaN : pass.NearestMeanAccuracy(means, candidates);
        }
        return (outputs, nearest);
    }

    /// <summary>iCaRL's class means: the mean of the normalised features of a class's exemplars and of their flipped
    /// images, normalised.</summary>
    private Dictionary<int, double[]> ClassMeans(DistillModel net, ExemplarMemory memory)
    {
        var means = new Dictionary<int, double[]>();
        foreach (int c in memory.Ranked.Keys)
        {
            ImageDataset exemplars = context.Train.Subset(memory.Exemplars(c), $"exemplars of class {c}");
            double[][] all = [.. NetworkPass.Run(net, exemplars).Features.Concat(NetworkPass.Run(net, exemplars, flip: true).Features)
                .Select(NetworkPass.Normalised)];
            double[] mean = new double[all[0].Length];
            foreach (double[] f in all)
            {
                for (int k = 0; k < mean.Length; k++) mean[k] += f[k] / all.Length;
            }
            means[c] = NetworkPass.Normalised([.. mean.Select(v => (float)v)]);
        }
        return means;
    }

    private TrainingOptions Options(int epochs) =>
        context.Options(seed) with { Epochs = epochs };

    /// <summary>The directory name of a method: its settings that change its runs are part of it.</summary>
    private string MethodKey(string method) => method switch
    {
        "lwf" => string.Create(CultureInfo.InvariantCulture, $"lwf-T{settings.Temperature:G}-l{settings.DistillationWeight:G}-w{settings.WarmupEpochs}-wlr{settings.WarmupLearningRate?.ToString("G", CultureInfo.InvariantCulture) ?? "tenth"}"),
        "replay" => $"replay-m{settings.Memory}",
        "icarl" => string.Create(CultureInfo.InvariantCulture, $"icarl-m{settings.Memory}-T{settings.Temperature:G}-l{settings.DistillationWeight:G}"),
        _ => method,
    };

    private ImageDataset Union(IEnumerable<int> indices, string source) => context.Train.Subset([.. indices.Order()], source);

    private static ImageDataset Subset(ImageDataset data, int[][] indicesOfClass, IReadOnlyList<int> classes, string source) =>
        data.Subset([.. classes.SelectMany(c => indicesOfClass[c]).Order()], source);

    private static int[][] IndicesOfClass(ImageDataset data)
    {
        var lists = Enumerable.Range(0, data.ClassCount).Select(_ => new List<int>()).ToArray();
        for (int i = 0; i < data.Count; i++) lists[data.Label(i)].Add(i);
        return [.. lists.Select(l => l.ToArray())];
    }

    private static void CopyWeights(DistillModel from, DistillModel to)
    {
        using var noGrad = no_grad();
        Dictionary<string, Tensor> source = from.state_dict();
        foreach ((string name, Tensor value) in to.state_dict()) value.copy_(source[name]);
    }
}
