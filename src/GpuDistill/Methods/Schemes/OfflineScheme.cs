using GpuDistill.Experiments;
namespace GpuDistill.Methods;

/// <summary>
/// Offline distillation: a frozen, pre-trained teacher teaches one student with the method's loss (or the student
/// learns alone, method <c>none</c>). Every method of <c>--methods</c> runs as one of these.
/// </summary>
/// <param name="method">The method and its weighted loss.</param>
public sealed class OfflineScheme(MethodSection method) : IScheme
{
    /// <inheritdoc/>
    public string Name => method.Name;

    /// <inheritdoc/>
    public IReadOnlyList<SchemeRow> Run(SchemeContext context, string student, int seed)
    {
        ArgumentNullException.ThrowIfNull(context);
        (Models.DistillModel model, Training.TrainingRun run) =
            context.TrainModel(method.RunName, student, seed, method.Loss, context.TeacherOutputs, method.SettingsOver(context.Recipe.Settings));
        using (model) return [new SchemeRow("", run, Fidelity: context.Fidelity(model))];
    }
}
