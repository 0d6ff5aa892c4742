using System.Text.Json;
using System.Text.Json.Nodes;
using GpuDistill.Distributed;
using GpuDistill.Experiments;
using GpuDistill.Data;
using GpuDistill.Models;
using GpuDistill.Training;
using static TorchSharp.torch;

namespace GpuDistill.Methods;

/// <summary>
/// What a scheme works with: the data, the frozen teacher, the recipe's settings, and one way to train a model (or
/// find it trained) so that every scheme's runs are checkpointed, resumable and reused alike.
/// </summary>
/// <param name="Recipe">The recipe (schedule, loss settings, scheme settings).</param>
/// <param name="Train">Training images.</param>
/// <param name="Test">Test images.</param>
/// <param name="TrainedTeacher">The recipe's trained teacher (eval mode, frozen); null when no method or scheme of the
/// recipe reads one (<see cref="IScheme.ReadsTeacher"/>).</param>
/// <param name="TrainedTeacherOutputs">The teacher's outputs (cached when possible), with the layers the methods read;
/// null with the teacher.</param>
/// <param name="OutputDirectory">The experiment's output directory.</param>
/// <param name="Resume">Continue unfinished runs.</param>
/// <param name="Progress">Receives the trainers' progress.</param>
/// <param name="Log">Receives one-line messages.</param>
/// <param name="CancellationToken">Stops after the current step.</param>
public sealed record SchemeContext(Recipe Recipe, ImageDataset Train, ImageDataset Test, DistillModel? TrainedTeacher,
    TeacherOutputs? TrainedTeacherOutputs, string OutputDirectory, bool Resume, IProgress<TrainingProgress>? Progress,
    Action<string> Log, CancellationToken CancellationToken)
{
    /// <summary>The recipe's trained teacher (eval mode, frozen).</summary>
    /// <exception cref="InvalidOperationException">For a scheme that declared it reads no teacher.</exception>
    public DistillModel Teacher => TrainedTeacher ?? throw NoTeacher();

    /// <summary>The teacher's outputs (cached when possible), with the layers the methods read.</summary>
    /// <exception cref="InvalidOperationException">For a scheme that declared it reads no teacher.</exception>
    public TeacherOutputs TeacherOutputs => TrainedTeacherOutputs ?? throw NoTeacher();

    private static InvalidOperationException NoTeacher() => new(
        "This run has no teacher: none of its methods or schemes declared that it reads one (IScheme.ReadsTeacher).");

    /// <summary>A trainer with the recipe's schedule for <paramref name="seed"/>.</summary>
    /// <param name="seed">The seed.</param>
    /// <param name="distributed">How its runs spread over processes; null for the process-wide choice.</param>
    public Trainer Trainer(int seed, IDistributedTraining? distributed = null) =>
        new(Options(seed), Progress, distributed: distributed);

    /// <summary>The recipe's schedule (and augmentation) for <paramref name="seed"/>: what its runs train with unless
    /// a scheme changes it.</summary>
    /// <param name="seed">The seed.</param>
    public TrainingOptions Options(int seed) => Recipe.Training.ToOptions(seed, Recipe.Data.Augment);

    /// <summary>The checkpoint directory of <paramref name="method"/> on <paramref name="architecture"/> with
    /// <paramref name="seed"/> (the layout offline methods use, so a scheme reuses their finished runs).</summary>
    public string CheckpointDirectory(string method, string architecture, int seed) =>
        Path.Combine(OutputDirectory, "checkpoints", method, architecture, $"seed{seed}");

    /// <summary>
    /// Trains a new <paramref name="architecture"/> model (initialised from <paramref name="seed"/>) with
    /// <paramref name="loss"/> under the name <paramref name="method"/>, or loads it when a finished run of that
    /// name, architecture and seed is in the checkpoints; returns the trained model (the caller disposes it).
    /// </summary>
    /// <param name="method">The run's method name (its checkpoint directory).</param>
    /// <param name="architecture">The model's architecture.</param>
    /// <param name="seed">Initialisation and data-order seed.</param>
    /// <param name="loss">The weighted terms.</param>
    /// <param name="teacher">The teacher outputs the loss reads, if any.</param>
    /// <returns>The model and its run.</returns>
    /// <param name="settings">The settings of the loss's terms; the recipe's when null.</param>
    public (DistillModel Model, TrainingRun Run) TrainModel(string method, string architecture, int seed, LossSpec loss,
        TeacherOutputs? teacher, MethodSettingsMap? settings = null)
    {
        ArgumentNullException.ThrowIfNull(loss);
        settings ??= Recipe.Settings;
        WeightedLoss weighted = loss.Create(settings);
        string directory = ClaimDirectory(method, architecture, seed, weighted, settings);
        DistillModel model = ModelFactory.Create(architecture, seed);
        TrainingRun run = Trainer(seed).Fit($"{method}/{architecture}/seed{seed}", model, weighted, Train, Test,
            weighted.NeedsTeacher ? teacher : null, directory, Resume, CancellationToken);
        return (model, run);
    }

    /// <summary>
    /// The checkpoint directory of a run (<see cref="CheckpointDirectory"/>), claimed for it (<see cref="CheckpointIdentity"/>):
    /// resuming refuses a directory whose run had another loss, other term or scheme settings, another schedule, data
    /// or teacher.
    /// </summary>
    /// <param name="runName">The run's name (its directory).</param>
    /// <param name="architecture">The model's architecture.</param>
    /// <param name="seed">The seed.</param>
    /// <param name="loss">The run's weighted terms.</param>
    /// <param name="settings">The terms' settings; the recipe's when null.</param>
    /// <param name="scheme">The scheme the run belongs to, whose settings are part of it; null for an offline method.</param>
    /// <param name="options">The run's schedule when it is not the recipe's.</param>
    /// <returns>The directory.</returns>
    /// <exception cref="InvalidDataException">When resuming a directory that holds another run.</exception>
    public string ClaimDirectory(string runName, string architecture, int seed, WeightedLoss loss, MethodSettingsMap? settings = null,
        string? scheme = null, TrainingOptions? options = null)
    {
        string directory = CheckpointDirectory(runName, architecture, seed);
        CheckpointIdentity.Claim(directory, RunIdentity(loss, settings ?? Recipe.Settings, scheme, options ?? Options(seed)),
            Resume, DistributedTraining.WritesFiles);
        return directory;
    }

    /// <summary>
    /// Claims a folder that a scheme names after its own settings (cross-modal's modality and row, lifelong's task split;
    /// <see cref="CheckpointIdentity"/>): the name does not say the schedule, the data or the teacher, so resuming
    /// refuses a folder whose run had others.
    /// </summary>
    /// <param name="directory">The folder.</param>
    /// <param name="options">The schedule its runs train with.</param>
    /// <param name="readsTeacher">Whether its runs read the recipe's teacher.</param>
    /// <exception cref="InvalidDataException">When resuming a folder that holds another run.</exception>
    public void ClaimSchemeDirectory(string directory, TrainingOptions options, bool readsTeacher) =>
        CheckpointIdentity.Claim(directory, ScheduleDataAndTeacher(options, readsTeacher), Resume, DistributedTraining.WritesFiles);

    private JsonObject ScheduleDataAndTeacher(TrainingOptions options, bool readsTeacher)
    {
        var identity = new JsonObject
        {
            ["schedule"] = JsonSerializer.SerializeToNode(options, ResultJson.Options),
            ["data"] = new JsonObject
            {
                ["source"] = Recipe.Data.Directory is null ? "embedded" : "directory",
                ["validationPerClass"] = Recipe.Data.ValidationPerClass,
            },
        };
        if (readsTeacher) identity["teacher"] = JsonSerializer.SerializeToNode(Recipe.Teacher, ResultJson.Options);
        return identity;
    }

    /// <summary>
    /// What a run is: the terms and weights, each registered term's settings, the scheme's settings, the schedule (with
    /// the augmentation the run really uses: data-free runs use none), the training data (not the data directory
    /// itself, so moved data still resumes) and, when a term reads it, the teacher.
    /// </summary>
    internal JsonObject RunIdentity(WeightedLoss loss, MethodSettingsMap settings, string? scheme, TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(loss);
        ArgumentNullException.ThrowIfNull(settings);
        var terms = new JsonObject();
        foreach (string name in loss.Terms.Select(t => t.Term.Name).Distinct().Where(n => settings.Registry.DefaultSettings(n) is not null))
            terms[name] = Serialize(settings[name]);
        JsonObject identity = ScheduleDataAndTeacher(options, loss.NeedsTeacher);
        identity["loss"] = loss.ToString();
        identity["settings"] = terms;
        if (scheme is not null) identity["scheme"] = new JsonObject { [scheme] = Serialize(settings[scheme]) };
        return identity;

        static JsonNode? Serialize(MethodSettings value) => JsonSerializer.SerializeToNode(value, value.GetType(), ResultJson.Options);
    }

    /// <summary>A trained model's agreement with the recipe's teacher and its calibration on the test set.</summary>
    public Diagnostics.ResultsRowDiagnostics Fidelity(DistillModel model) =>
        Diagnostics.DistillationDiagnostics.ForResultsRow(Teacher, model, Test);

    /// <summary>Prepares a trained model as a frozen teacher (logits only, cached when the data is not augmented).</summary>
    public TeacherOutputs AsTeacher(DistillModel model) => TeacherOutputs.Create(model, Train, cache: !Recipe.Data.Augment);

    /// <summary>Test accuracy of the mean of <paramref name="models"/>' softmax outputs (eval mode).</summary>
    public double EnsembleAccuracy(IReadOnlyList<DistillModel> models)
    {
        ArgumentNullException.ThrowIfNull(models);
        foreach (DistillModel m in models) m.eval();
        return Evaluation.Accuracies(Test, images => [stack([.. models.Select(m => m.ForwardLogits(images).softmax(1))]).mean([0])])[0];
    }

    /// <summary>A record for a model that was not trained itself (an ensemble): its accuracy and its members' cost.</summary>
    /// <param name="name">The record's name.</param>
    /// <param name="model">What it is, e.g. "2 x small-cnn".</param>
    /// <param name="members">The members' runs.</param>
    /// <param name="accuracy">The ensemble's test accuracy.</param>
    /// <param name="seed">The seed.</param>
    /// <param name="trainSeconds">Training time of all members together.</param>
    public static TrainingRun Combined(string name, string model, IReadOnlyList<TrainingRun> members, double accuracy, int seed,
        double trainSeconds)
    {
        ArgumentNullException.ThrowIfNull(members);
        var last = new EpochRecord(members[0].Epochs.Count, double.NaN, new Dictionary<string, double>(), accuracy,
            trainSeconds, new StepTimeSplit(0, 0, 0, 0));
        return new TrainingRun(name, model, members.Sum(m => m.Parameters), seed, "ensemble of the rows above", [last]);
    }
}
