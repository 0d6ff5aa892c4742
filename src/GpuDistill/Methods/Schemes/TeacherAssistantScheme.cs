using GpuDistill.Models;
using GpuDistill.Training;

namespace GpuDistill.Methods;

/// <summary>The settings of <c>takd</c>.</summary>
public sealed record TeacherAssistantSettings : MethodSettings
{
    /// <summary>The teacher assistant's architecture (a name of <see cref="ModelFactory"/>).</summary>
    public string Assistant { get; init; } = "mid-cnn";

    /// <inheritdoc/>
    public override void Validate() =>
        Require(ModelFactory.IsKnown(Assistant), "assistant", Assistant,
            $"one of {string.Join(", ", ModelFactory.Names)}");
}

/// <summary>
/// Teacher-assistant distillation (TAKD, Mirzadeh et al. 2020): a mid-sized assistant learns from the teacher, and
/// the student learns from the assistant, both with the recipe's KD loss (<c>kd:0.9,ce:0.1</c>), which bridges a
/// large teacher-student gap. Reports the assistant and the student. The assistant of a seed is the <c>kd</c> run
/// of its architecture and seed when one exists.
/// </summary>
/// <param name="settings">The assistant's architecture.</param>
public sealed class TeacherAssistantScheme(TeacherAssistantSettings settings) : IScheme
{
    /// <summary>The registry's description.</summary>
    public static SchemeInfo Info { get; } = SchemeInfo.Of<TeacherAssistantSettings>("takd",
        "Teacher-assistant KD: a mid-sized assistant learns from the teacher, the student from the assistant (Mirzadeh et al. 2020).",
        s => new TeacherAssistantScheme(s));

    /// <inheritdoc/>
    public string Name => "takd";

    /// <inheritdoc/>
    public IReadOnlyList<SchemeRow> Run(SchemeContext context, string student, int seed)
    {
        ArgumentNullException.ThrowIfNull(context);
        string assistant = settings.Assistant;
        (DistillModel middle, TrainingRun middleRun) = context.TrainModel("kd", assistant, seed, LossSpec.ForMethod("kd"), context.TeacherOutputs);
        using (middle)
        {
            using TeacherOutputs fromAssistant = context.AsTeacher(middle);
            // Another assistant makes another student: its runs get their own name, so none is reused for the other.
            string runName = assistant == new TeacherAssistantSettings().Assistant ? Name : $"{Name}-{assistant}";
            (DistillModel model, TrainingRun run) = context.TrainModel(runName, student, seed, LossSpec.ForMethod("kd"), fromAssistant);
            using (model)
                return [new SchemeRow($"assistant {assistant}", middleRun, Fidelity: context.Fidelity(middle)), new SchemeRow("", run, Fidelity: context.Fidelity(model))];
        }
    }
}
