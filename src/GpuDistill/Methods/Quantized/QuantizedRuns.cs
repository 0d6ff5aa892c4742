using GpuDistill.Deployment;
using GpuDistill.Models;
using GpuDistill.Quantization;
using GpuDistill.Training;

namespace GpuDistill.Methods;

/// <summary>
/// What the quantized schemes share: training a <see cref="QuantizedModel"/> through the scheme context's trainer
/// (checkpointed and resumable like every other run, under a name that carries the precision), and making its row
/// with its deployment cost (<see cref="DeploymentTable"/>).
/// </summary>
internal static class QuantizedRuns
{
    /// <summary>Trains <paramref name="model"/> with <paramref name="loss"/> at the recipe's schedule, the learning rate
    /// scaled by <paramref name="learningRateScale"/> and <paramref name="epochs"/> epochs (the recipe's when 0).</summary>
    public static TrainingRun Train(SchemeContext context, string method, DistillModel model, int seed, LossSpec loss,
        TeacherOutputs? teacher, double learningRateScale, int epochs = 0)
    {
        WeightedLoss weighted = loss.Create(context.Recipe.Settings);
        TrainingOptions options = Options(context, seed, learningRateScale, epochs);
        return new Trainer(options, context.Progress).Fit($"{method}/{model.Architecture}/seed{seed}", model, weighted,
            context.Train, context.Test, weighted.NeedsTeacher ? teacher : null,
            context.ClaimDirectory(method, model.Architecture, seed, weighted, options: options), context.Resume, context.CancellationToken);
    }

    /// <summary>The recipe's schedule with the learning rate scaled and <paramref name="epochs"/> epochs (the recipe's when 0).</summary>
    public static TrainingOptions Options(SchemeContext context, int seed, double learningRateScale, int epochs)
    {
        TrainingOptions options = context.Options(seed);
        return options with
        {
            LearningRate = options.LearningRate * learningRateScale,
            Epochs = epochs > 0 ? epochs : options.Epochs,
        };
    }

    /// <summary>A float model of <paramref name="architecture"/> holding <paramref name="source"/>'s trained weights.</summary>
    public static DistillModel CopyOf(DistillModel source, string architecture, int seed)
    {
        DistillModel copy = ModelFactory.Create(architecture, seed);
        copy.load_state_dict(source.state_dict());
        return copy;
    }

    /// <summary>The row of a trained model, with its deployment cost beside the teacher's in the note.</summary>
    public static SchemeRow Row(SchemeContext context, string scheme, string role, string student, int seed, DistillModel model, TrainingRun run)
    {
        DeploymentRow cost = DeploymentTable.Add(context.OutputDirectory, context.Teacher, scheme, role, student, seed, model, run);
        DeploymentRow? teacher = DeploymentTable.Read(context.OutputDirectory).FirstOrDefault(r => r.Scheme == "teacher");
        return new SchemeRow(role, run, DeploymentTable.Note(cost, teacher), context.Fidelity(model));
    }
}
