using GpuDistill.Models;
using GpuDistill.Quantization;
using GpuDistill.Training;

namespace GpuDistill.Methods;

/// <summary>The settings of <c>qkd</c>: the precision and each phase's length.</summary>
public sealed record QkdSettings : QuantizedSchemeSettings
{
    /// <summary>Epochs of phase 1, self-studying (0: the recipe's epochs).</summary>
    public int SelfStudyEpochs { get; init; }

    /// <summary>Epochs of phase 2, co-studying (0: the recipe's epochs).</summary>
    public int CoStudyEpochs { get; init; }

    /// <summary>Epochs of phase 3, tutoring (0: the recipe's epochs).</summary>
    public int TutoringEpochs { get; init; }

    /// <summary>Learning rate of phases 2 and 3 as a multiple of the recipe's (both start from trained weights), &gt; 0.</summary>
    public double FineTuneLearningRateScale { get; init; } = 0.1;

    /// <summary>The student's loss in phase 3 (a loss spec with the recipe's term settings).</summary>
    public string TutoringLoss { get; init; } = "kd:0.9,ce:0.1";

    /// <inheritdoc/>
    public override void Validate()
    {
        base.Validate();
        Require(SelfStudyEpochs >= 0, "selfStudyEpochs", SelfStudyEpochs, ">= 0");
        Require(CoStudyEpochs >= 0, "coStudyEpochs", CoStudyEpochs, ">= 0");
        Require(TutoringEpochs >= 0, "tutoringEpochs", TutoringEpochs, ">= 0");
        Require(FineTuneLearningRateScale > 0 && double.IsFinite(FineTuneLearningRateScale), "fineTuneLearningRateScale",
            FineTuneLearningRateScale, "finite and > 0");
        RequireLoss(TutoringLoss, "tutoringLoss");
    }
}

/// <summary>
/// QKD (Kim et al. 2019), quantization-aware knowledge distillation in three phases (loss-spec-2 8.2):
/// 1. self-studying: the quantized student trains alone with cross-entropy;
/// 2. co-studying: a trainable copy of the float teacher and the quantized student train together, each with
///    <c>ce:1,dml:1</c> (the teacher adds KL(p_S || p_T) so it becomes quantization-friendly, the student
///    KL(p_T || p_S); temperature 1, the dml term's);
/// 3. tutoring: the co-studied teacher is frozen and the student trains with the recipe's KD.
/// The recipe's teacher itself is not changed. Rows: the student after phase 1, the co-studied teacher, and the
/// final student (with its ONNX size and latency next to the teacher's).
/// </summary>
/// <param name="settings">Precision, phase lengths and learning rates.</param>
public sealed class QkdScheme(QkdSettings settings) : IScheme
{
    /// <summary>The registry's description.</summary>
    public static SchemeInfo Info { get; } = SchemeInfo.Of<QkdSettings>("qkd",
        "QKD (Kim et al. 2019): quantized student self-studies, co-studies with a trainable teacher copy, then is tutored by it.",
        s => new QkdScheme(s));

    /// <inheritdoc/>
    public string Name => "qkd";

    /// <inheritdoc/>
    public IReadOnlyList<SchemeRow> Run(SchemeContext context, string student, int seed)
    {
        ArgumentNullException.ThrowIfNull(context);
        settings.Validate();
        string tag = settings.Tag;
        using QuantizedModel model = QuantizedModel.Wrap(ModelFactory.Create(student, seed), settings.ToOptions());
        TrainingRun selfStudy = QuantizedRuns.Train(context, $"{Name}-{tag}-phase1", model, seed, LossSpec.ForMethod("none"), null,
            settings.LearningRateScale, settings.SelfStudyEpochs);
        var rows = new List<SchemeRow> { new($"{tag}, phase 1 self-study", selfStudy, Fidelity: context.Fidelity(model)) };

        string architecture = context.Teacher.Architecture;
        using DistillModel teacher = QuantizedRuns.CopyOf(context.Teacher, architecture, seed);
        foreach (var p in teacher.parameters()) p.requires_grad = true;
        teacher.train();
        string coStudy = $"{Name}-{tag}-phase2";
        Learner[] learners =
        [
            new($"{coStudy}/{architecture}/teacher/seed{seed}", teacher, LossSpec.Parse(MutualLearningScheme.PeerLoss).Create(context.Recipe.Settings)),
            new($"{coStudy}/{student}/seed{seed}", model, LossSpec.Parse(MutualLearningScheme.PeerLoss).Create(context.Recipe.Settings)),
        ];
        TrainingOptions coStudyOptions = QuantizedRuns.Options(context, seed, settings.FineTuneLearningRateScale, settings.CoStudyEpochs);
        IReadOnlyList<TrainingRun> together = new Trainer(coStudyOptions, context.Progress)
            .FitTogether(learners, context.Train, context.Test, null,
                context.ClaimDirectory(coStudy, student, seed, learners[1].Loss, scheme: Name, options: coStudyOptions), context.Resume,
                context.CancellationToken);
        rows.Add(new SchemeRow($"{architecture} float, phase 2 co-study", together[0], Fidelity: context.Fidelity(teacher)));

        using TeacherOutputs tutor = context.AsTeacher(teacher);
        TrainingRun tutored = QuantizedRuns.Train(context, $"{Name}-{tag}-phase3", model, seed, LossSpec.Parse(settings.TutoringLoss), tutor,
            settings.FineTuneLearningRateScale, settings.TutoringEpochs);
        rows.Add(QuantizedRuns.Row(context, Name, tag, student, seed, model, tutored));
        return rows;
    }
}
