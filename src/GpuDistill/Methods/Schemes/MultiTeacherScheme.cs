using GpuDistill.Models;
using GpuDistill.Training;

namespace GpuDistill.Methods;

/// <summary>The settings of <c>multi-teacher</c>.</summary>
public sealed record MultiTeacherSettings : MethodSettings
{
    /// <summary>Teachers added to the recipe's one: architectures, each trained alone with seed 1 and the students'
    /// schedule.</summary>
    public IReadOnlyList<string> ExtraTeachers { get; init; } = ["mid-cnn"];

    /// <inheritdoc/>
    public override void Validate()
    {
        Require(ExtraTeachers.Count > 0, "extraTeachers", ExtraTeachers.Count, "a list of at least one architecture");
        foreach (string model in ExtraTeachers)
        {
            Require(ModelFactory.IsKnown(model), "extraTeachers", model,
                $"architectures among {string.Join(", ", ModelFactory.Names)}");
        }
    }
}

/// <summary>
/// Multi-teacher distillation: the recipe's teacher and the extra teachers (other architectures, each trained alone
/// with seed 1 and the students' schedule, shared by every student seed) teach one student with
/// <c>multi-kd:0.9,ce:0.1</c>, whose fused kernel combines the K teachers' softened distributions in one launch,
/// weighted equally or by each teacher's confidence on the example. Reports the extra teachers and the student.
/// </summary>
/// <param name="settings">The teachers added to the recipe's.</param>
public sealed class MultiTeacherScheme(MultiTeacherSettings settings) : IScheme
{
    /// <summary>The registry's description (the teachers' weighting is the multi-kd term's setting).</summary>
    public static SchemeInfo Info { get; } = SchemeInfo.Of<MultiTeacherSettings>("multi-teacher",
        "Multi-teacher KD: the teacher and extra teachers, weighted per example by confidence or equally, teach one student.",
        s => new MultiTeacherScheme(s));

    /// <summary>The student's loss.</summary>
    public const string Loss = "multi-kd:0.9,ce:0.1";

    /// <inheritdoc/>
    public string Name => "multi-teacher";

    /// <inheritdoc/>
    public IReadOnlyList<SchemeRow> Run(SchemeContext context, string student, int seed)
    {
        ArgumentNullException.ThrowIfNull(context);
        IReadOnlyList<string> extraTeachers = settings.ExtraTeachers;
        // The run's name says the weighting: runs with the other weighting are other runs.
        string weighting = context.Recipe.Settings.Get<MultiTeacherKDSettings>("multi-kd").Weighting.ToString().ToLowerInvariant();
        var teachers = new List<DistillModel>();
        var rows = new List<SchemeRow>();
        try
        {
            foreach (string architecture in extraTeachers)
            {
                (DistillModel teacher, TrainingRun run) = context.TrainModel("none", architecture, 1, LossSpec.ForMethod("none"), null);
                teachers.Add(teacher);
                rows.Add(new SchemeRow($"teacher {teachers.Count + 1}, {architecture} alone", run));
            }
            using TeacherOutputs all = TeacherOutputs.CreateEnsemble([context.Teacher, .. teachers], context.Train, cache: !context.Recipe.Data.Augment);
            // Other extra teachers make another student: its runs get their own name, so none is reused for the other.
            string teacherSet = extraTeachers.SequenceEqual(new MultiTeacherSettings().ExtraTeachers) ? "" : "-" + string.Join("+", extraTeachers);
            (DistillModel model, TrainingRun studentRun) = context.TrainModel($"{Name}{teacherSet}-{weighting}", student, seed, LossSpec.Parse(Loss), all);
            using (model) rows.Add(new SchemeRow($"{1 + extraTeachers.Count} teachers, {weighting}", studentRun, Fidelity: context.Fidelity(model)));
            return rows;
        }
        finally
        {
            foreach (DistillModel t in teachers) t.Dispose();
        }
    }
}
