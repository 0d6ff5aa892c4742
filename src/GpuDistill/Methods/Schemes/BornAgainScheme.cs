using GpuDistill.Models;
using GpuDistill.Training;

namespace GpuDistill.Methods;

/// <summary>The settings of <c>born-again</c>.</summary>
public sealed record BornAgainSettings : MethodSettings
{
    /// <summary>Generations after the first, at least 1.</summary>
    public int Generations { get; init; } = 2;

    /// <inheritdoc/>
    public override void Validate() => Require(Generations >= 1, "generations", Generations, "1 or more");
}

/// <summary>
/// Born-again networks (Furlanello et al. 2018): generation 0 is the student architecture trained alone; generation
/// g learns from generation g-1, a teacher of its own architecture, with the recipe's KD loss (<c>kd:0.9,ce:0.1</c>).
/// Reports every generation and the ensemble of all of them (mean of their softmax outputs), as the paper does.
/// Generation 0 is the <c>none</c> run of the same seed when one exists.
/// </summary>
/// <param name="settings">The number of generations.</param>
public sealed class BornAgainScheme(BornAgainSettings settings) : IScheme
{
    /// <summary>The registry's description.</summary>
    public static SchemeInfo Info { get; } = SchemeInfo.Of<BornAgainSettings>("born-again",
        "Born-again networks: each generation of the student's architecture learns from the one before (Furlanello et al. 2018).",
        s => new BornAgainScheme(s));

    /// <inheritdoc/>
    public string Name => "born-again";

    /// <inheritdoc/>
    public IReadOnlyList<SchemeRow> Run(SchemeContext context, string student, int seed)
    {
        ArgumentNullException.ThrowIfNull(context);
        int generations = settings.Generations;
        if (generations < 1) throw new ArgumentOutOfRangeException(nameof(settings), generations, "Born-again needs one generation at least.");
        var models = new List<DistillModel>();
        var rows = new List<SchemeRow>();
        try
        {
            (DistillModel first, TrainingRun firstRun) = context.TrainModel("none", student, seed, LossSpec.ForMethod("none"), null);
            models.Add(first);
            rows.Add(new SchemeRow("gen 0, alone", firstRun, Fidelity: context.Fidelity(first)));
            for (int g = 1; g <= generations; g++)
            {
                using TeacherOutputs previous = context.AsTeacher(models[^1]);
                (DistillModel next, TrainingRun run) = context.TrainModel($"born-again-gen{g}", student, seed, LossSpec.ForMethod("kd"), previous);
                models.Add(next);
                rows.Add(new SchemeRow($"gen {g}", run, Fidelity: context.Fidelity(next)));
            }
            double ensemble = context.EnsembleAccuracy(models);
            rows.Add(new SchemeRow("ensemble", SchemeContext.Combined($"born-again/{student}/seed{seed}/ensemble",
                $"{models.Count} x {student}", [.. rows.Select(r => r.Run)], ensemble, seed, rows.Sum(r => r.Run.TrainSeconds))));
            return rows;
        }
        finally
        {
            foreach (DistillModel m in models) m.Dispose();
        }
    }
}
