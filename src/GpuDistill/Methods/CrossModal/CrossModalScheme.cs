using System.Globalization;
using System.Text.Json;
using GpuDistill.Data;
using GpuDistill.Models;
using GpuDistill.Training;

namespace GpuDistill.Methods;

/// <summary>
/// Cross-modal distillation (supervision transfer, Gupta, Hoffman and Malik 2016): the recipe's image teacher
/// supervises a student that only sees a second modality of the same examples, a sinogram of each image
/// (<see cref="RadonModality"/>), through the <see cref="RadonCnn"/>. Rows: the modality student trained with its
/// labels (the upper bound), with the teacher's hard labels, with KD (its soft labels), and with KD plus its mid-level
/// features through a learned projection (<see cref="ProjectedFeatureTerm"/>). The label-free rows train on
/// measurements that carry no labels: the modality's labels never reach their trainer.
/// </summary>
/// <param name="settings">The modality, the rows and the distillation settings.</param>
public sealed class CrossModalScheme(CrossModalSettings settings) : IScheme
{
    /// <summary>The registry's description.</summary>
    public static SchemeInfo Info { get; } = SchemeInfo.Of<CrossModalSettings>("cross-modal",
        "Cross-modal distillation: the image teacher supervises a sinogram student on paired unlabelled examples (Gupta et al. 2016): labels, teacher labels, KD, KD + features.",
        s => new CrossModalScheme(s));

    /// <inheritdoc/>
    public string Name => "cross-modal";

    /// <inheritdoc/>
    /// <remarks>The modality student is always a <see cref="RadonCnn"/>; the rows run once, for the recipe's first
    /// student, and the others get none.</remarks>
    public IReadOnlyList<SchemeRow> Run(SchemeContext context, string student, int seed)
    {
        ArgumentNullException.ThrowIfNull(context);
        settings.Validate();
        if (student != context.Recipe.Students[0]) return [];
        RadonModality modality = RadonModality.Create(settings.Modality, settings.Angles, settings.Noise, settings.NoiseSeed);
        context.Log($"cross-modal, seed {seed}: {settings.Modality}: {modality}");
        ImageDataset test = modality.Measure(context.Test, context.Test.Labels, $"{settings.Modality} measurements of {context.Test.Source}");

        var results = new List<CrossModalResult>();
        var rows = new List<SchemeRow>();
        foreach (string method in CrossModalSettings.MethodNames.Where(settings.Methods.Contains))
        {
            (TrainingRun run, long parameters) = Train(context, modality, test, method, seed);
            results.Add(new CrossModalResult(method, seed, run.FinalAccuracy, [.. run.Epochs.Select(e => e.TestAccuracy)], run.TrainSeconds, run.Loss, parameters));
            rows.Add(new SchemeRow($"{RadonCnn.ArchitectureName}, {Label(method)}", run,
                method == "labels" ? "upper bound: the modality's own labels" : "the modality's labels never read"));
        }

        string directory = Path.Combine(context.OutputDirectory, "cross-modal");
        AtomicFile.WriteAllText(Path.Combine(directory, "seeds", $"seed{seed}.json"), JsonSerializer.Serialize(results, ResultJson.Options));
        WriteReport(context, directory, modality);
        return rows;
    }

    /// <summary>The display name of a row.</summary>
    public static string Label(string method) => method switch
    {
        "labels" => "labels (upper bound)",
        "teacher-labels" => "teacher's hard labels",
        "kd" => "KD",
        "kd-features" => "KD + features",
        _ => method,
    };

    /// <summary>
    /// Trains (or reloads) one row's modality student. Only the <c>labels</c> row gives the trainer measurements that
    /// carry the labels; the others get measurements without labels (every label 0, which the trainer reads only for
    /// its training-accuracy record) and learn from the teacher's outputs on the paired images.
    /// </summary>
    private (TrainingRun Run, long Parameters) Train(SchemeContext context, RadonModality modality, ImageDataset test, string method, int seed)
    {
        ImageDataset train = method switch
        {
            "labels" => modality.Measure(context.Train, context.Train.Labels, $"{settings.Modality} measurements of {context.Train.Source}, labelled"),
            "teacher-labels" => modality.Measure(context.Train, TeacherLabels(context), $"{settings.Modality} measurements of {context.Train.Source}, the teacher's labels"),
            _ => modality.Measure(context.Train, [], $"{settings.Modality} measurements of {context.Train.Source}, unlabelled"),
        };
        var terms = new List<(ILossTerm Term, double Weight)>();
        ProjectedFeatureTerm? features = null;
        if (method is "labels" or "teacher-labels") terms.Add((new CrossEntropyTerm(), 1.0));
        if (method is "kd" or "kd-features") terms.Add((new KDTerm(new KDSettings { Temperature = settings.Temperature }), 1.0));
        if (method == "kd-features")
        {
            features = new ProjectedFeatureTerm(settings.TeacherLayer, settings.FeatureCells);
            terms.Add((features, settings.FeatureWeight));
        }
        var loss = new WeightedLoss(terms);
        // Cached outputs of the teacher on the paired images, looked up by index: the batches carry measurements.
        using TeacherOutputs? teacher = loss.NeedsTeacher
            ? TeacherOutputs.Create(context.Teacher, context.Train, cache: true, features is null ? null : new HashSet<string> { settings.TeacherLayer })
            : null;
        if (teacher is { IsCached: false })
            throw new InvalidOperationException($"The teacher's outputs on {context.Train.Count} images do not fit the cache; the cross-modal rows need them cached (their batches carry measurements, not images).");
        using var model = new RadonCnn(seed, modality.Angles, modality.Bins);
        try
        {
            // Flips and crops of a sinogram are not the measurements of a flipped or cropped image: no augmentation.
            TrainingOptions options = context.Recipe.Training.ToOptions(seed, augment: false);
            string directory = Path.Combine(context.OutputDirectory, "checkpoints", "cross-modal", ModalityKey(context), MethodKey(method), $"seed{seed}");
            context.ClaimSchemeDirectory(directory, options, readsTeacher: true);
            TrainingRun run = new Trainer(options, context.Progress).Fit($"cross-modal/{MethodKey(method)}/seed{seed}", model, loss, train, test,
                teacher, directory, context.Resume, context.CancellationToken);
            return (run, model.ParameterCount);
        }
        finally
        {
            features?.Dispose();
        }
    }

    /// <summary>The teacher's argmax on each paired training image.</summary>
    private static byte[] TeacherLabels(SchemeContext context)
    {
        NetworkPass pass = NetworkPass.Run(context.Teacher, context.Train);
        var labels = new byte[context.Train.Count];
        for (int i = 0; i < labels.Length; i++)
        {
            int best = 0;
            for (int c = 1; c < pass.Classes; c++)
            {
                if (pass.Logits[i * pass.Classes + c] > pass.Logits[i * pass.Classes + best]) best = c;
            }
            labels[i] = (byte)best;
        }
        return labels;
    }

    /// <summary>The checkpoint folder of the modality and teacher: another measurement or teacher is another run.</summary>
    private string ModalityKey(SchemeContext context) => string.Create(CultureInfo.InvariantCulture,
        $"{settings.Modality}-a{(settings.Modality == "radon" ? settings.Angles : 2)}-n{settings.Noise:G}-s{settings.NoiseSeed}-{context.Recipe.Teacher.Model}-seed{context.Recipe.Teacher.Seed}-e{context.Recipe.Teacher.Training.Epochs}");

    private string MethodKey(string method) => method switch
    {
        "kd" => string.Create(CultureInfo.InvariantCulture, $"kd-T{settings.Temperature:G}"),
        "kd-features" => string.Create(CultureInfo.InvariantCulture,
            $"kd-features-T{settings.Temperature:G}-{settings.TeacherLayer.Replace(':', '-')}-c{settings.FeatureCells}-w{settings.FeatureWeight:G}"),
        _ => method,
    };

    /// <summary>Rewrites the report from every seed of the recipe finished so far.</summary>
    private void WriteReport(SchemeContext context, string directory, RadonModality modality)
    {
        var all = new List<CrossModalResult>();
        foreach (int seed in context.Recipe.Seeds)
        {
            string path = Path.Combine(directory, "seeds", $"seed{seed}.json");
            if (File.Exists(path)) all.AddRange(JsonSerializer.Deserialize<List<CrossModalResult>>(File.ReadAllText(path), ResultJson.Options)!);
        }
        using var example = new RadonCnn(1, modality.Angles, modality.Bins);
        double teacherAccuracy = NetworkPass.Run(context.Teacher, context.Test).OutputAccuracy([.. Enumerable.Range(0, context.Test.ClassCount)]);
        CrossModalReport.Write(directory, $"Cross-modal distillation: {context.Recipe.Name}", [
            $"data: {context.Train.Source}; {context.Train.Count} paired training and {context.Test.Count} test examples",
            $"modality '{settings.Modality}': {modality}",
            $"student: {example}",
            string.Create(CultureInfo.InvariantCulture, $"teacher: {context.Teacher} on the images; its test accuracy on the images {teacherAccuracy * 100:F1}%"),
            string.Create(CultureInfo.InvariantCulture,
                $"each row: {context.Recipe.Training.Epochs} epochs, batch {context.Recipe.Training.BatchSize}, SGD (Nesterov) lr {context.Recipe.Training.LearningRate:G} cosine, weight decay {context.Recipe.Training.WeightDecay:G}, no augmentation"),
            string.Create(CultureInfo.InvariantCulture,
                $"KD: T = {settings.Temperature:G}, kd:1 (no label term); features: teacher layer {settings.TeacherLayer} average-pooled to {settings.FeatureCells}x{settings.FeatureCells}, matched by a learned linear projection of the student's embedding (MSE, weight {settings.FeatureWeight:G})"),
        ], all, context.Test, modality);
    }
}

/// <summary>One cross-modal row's record for one seed.</summary>
/// <param name="Method">The row (see <see cref="CrossModalSettings.MethodNames"/>).</param>
/// <param name="Seed">The seed.</param>
/// <param name="Accuracy">Test accuracy (on the measurements) after the last epoch.</param>
/// <param name="EpochAccuracy">Test accuracy after each epoch.</param>
/// <param name="TrainSeconds">Training time.</param>
/// <param name="Loss">The weighted loss, e.g. "kd:1,xm-features:1".</param>
/// <param name="Parameters">The student's parameters (the feature projection not counted).</param>
public sealed record CrossModalResult(string Method, int Seed, double Accuracy, double[] EpochAccuracy, double TrainSeconds, string Loss, long Parameters);
