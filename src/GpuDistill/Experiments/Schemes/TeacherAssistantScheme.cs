using GpuDistill.Models;
using GpuDistill.Training;

namespace GpuDistill.Experiments.Schemes;

/// <summary>
/// Teacher-assistant distillation (TAKD, Mirzadeh et al. 2020): a mid-sized assistant learns from the teacher, and
/// the student learns from the assistant, both with the recipe's KD loss (<c>kd:0.9,ce:0.1</c>), which bridges a
/// large teacher-student gap. Reports the assistant and the student. The assistant of a seed is the <c>kd</c> run
/// of its architecture and seed when one exists.
/// </summary>
/// <param name="assistant">The assistant's architecture (default mid-cnn).</param>
public sealed class TeacherAssistantScheme(string assistant) : IScheme
{
    /// <inheritdoc/>
    public string Name => "takd";

    /// <inheritdoc/>
    public IReadOnlyList<SchemeRow> Run(SchemeContext context, string student, int seed)
    {
        ArgumentNullException.ThrowIfNull(context);
        (DistillModel middle, TrainingRun middleRun) = context.TrainModel("kd", assistant, seed, LossCatalog.Methods["kd"], context.TeacherOutputs);
        using (middle)
        {
            using TeacherOutputs fromAssistant = context.AsTeacher(middle);
            // Another assistant makes another student: its runs get their own name, so none is reused for the other.
            string runName = assistant == new SchemeSection().Assistant ? Name : $"{Name}-{assistant}";
            (DistillModel model, TrainingRun run) = context.TrainModel(runName, student, seed, LossCatalog.Methods["kd"], fromAssistant);
            model.Dispose();
            return [new SchemeRow($"assistant {assistant}", middleRun), new SchemeRow("", run)];
        }
    }
}
