using GpuDistill.Models;
using GpuDistill.Training;

namespace GpuDistill.Experiments.Schemes;

/// <summary>
/// Multi-teacher distillation: the recipe's teacher and the extra teachers (other architectures, each trained alone
/// with seed 1 and the students' schedule, shared by every student seed) teach one student with
/// <c>multi-kd:0.9,ce:0.1</c>, whose fused kernel combines the K teachers' softened distributions in one launch,
/// weighted equally or by each teacher's confidence on the example. Reports the extra teachers and the student.
/// </summary>
/// <param name="extraTeachers">Architectures of the teachers added to the recipe's.</param>
/// <param name="weighting"><c>confidence</c> or <c>equal</c>.</param>
public sealed class MultiTeacherScheme(IReadOnlyList<string> extraTeachers, string weighting) : IScheme
{
    /// <summary>The student's loss.</summary>
    public const string Loss = "multi-kd:0.9,ce:0.1";

    /// <inheritdoc/>
    public string Name => "multi-teacher";

    /// <inheritdoc/>
    public IReadOnlyList<SchemeRow> Run(SchemeContext context, string student, int seed)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(extraTeachers);
        var teachers = new List<DistillModel>();
        var rows = new List<SchemeRow>();
        try
        {
            foreach (string architecture in extraTeachers)
            {
                (DistillModel teacher, TrainingRun run) = context.TrainModel("none", architecture, 1, LossCatalog.Methods["none"], null);
                teachers.Add(teacher);
                rows.Add(new SchemeRow($"teacher {teachers.Count + 1}, {architecture} alone", run));
            }
            using TeacherOutputs all = TeacherOutputs.CreateEnsemble([context.Teacher, .. teachers], context.Train, cache: !context.Recipe.Data.Augment);
            SchemeContext weighted = context with { Recipe = context.Recipe with { Loss = context.Recipe.Loss with { TeacherWeighting = weighting } } };
            // Other extra teachers make another student: its runs get their own name, so none is reused for the other.
            string teacherSet = extraTeachers.SequenceEqual(new SchemeSection().ExtraTeachers) ? "" : "-" + string.Join("+", extraTeachers);
            (DistillModel model, TrainingRun studentRun) = weighted.TrainModel($"{Name}{teacherSet}-{weighting}", student, seed, Loss, all);
            model.Dispose();
            rows.Add(new SchemeRow($"{1 + extraTeachers.Count} teachers, {weighting}", studentRun));
            return rows;
        }
        finally
        {
            foreach (DistillModel t in teachers) t.Dispose();
        }
    }
}
