using GpuDistill.Training;

namespace GpuDistill.Experiments;

/// <summary>Everything one experiment produced.</summary>
/// <param name="Name">The recipe's name.</param>
/// <param name="Data">Which data was used.</param>
/// <param name="Machine">The machine the numbers come from.</param>
/// <param name="Accelerator">The accelerator the loss kernels ran on.</param>
/// <param name="Teacher">The teacher's run (loaded from its checkpoint when reused).</param>
/// <param name="Runs">Every student run.</param>
/// <param name="Summary">One row per method and student, over the seeds.</param>
public sealed record ExperimentResults(string Name, string Data, string Machine, string Accelerator,
    TrainingRun Teacher, IReadOnlyList<MethodRun> Runs, IReadOnlyList<SummaryRow> Summary);

/// <summary>A student run with the method that produced it.</summary>
/// <param name="Method">Method name.</param>
/// <param name="Student">Student architecture.</param>
/// <param name="Run">The run.</param>
/// <param name="Note">A remark on the row (e.g. the cost of a self-distillation exit); null for none.</param>
public sealed record MethodRun(string Method, string Student, TrainingRun Run, string? Note = null);

/// <summary>A method on a student, over its seeds.</summary>
/// <param name="Method">Method name.</param>
/// <param name="Student">Student architecture.</param>
/// <param name="Loss">Weighted loss spec.</param>
/// <param name="Seeds">Number of seeds.</param>
/// <param name="MeanAccuracy">Mean final test accuracy.</param>
/// <param name="StdAccuracy">Sample standard deviation of the final test accuracy (0 for one seed).</param>
/// <param name="GapRecovered">(method - student alone) / (teacher - student alone); null without a "none" method.</param>
/// <param name="Parameters">Student parameters.</param>
/// <param name="TrainSeconds">Mean training time of one run.</param>
/// <param name="StepSplit">Mean seconds per epoch in each part of the step.</param>
/// <param name="AdapterParameters">Parameters of learned adapters trained with the student (not deployed).</param>
/// <param name="Note">A remark on the row, from its first seed; null for none.</param>
public sealed record SummaryRow(string Method, string Student, string Loss, int Seeds, double MeanAccuracy,
    double StdAccuracy, double? GapRecovered, long Parameters, double TrainSeconds, StepTimeSplit StepSplit,
    long AdapterParameters = 0, string? Note = null)
{
    /// <summary>Parameters as shown in tables: the student's, plus learned adapters' when there are any.</summary>
    public string ParametersText => AdapterParameters == 0
        ? Parameters.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)
        : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{Parameters:N0} (+{AdapterParameters:N0} adapter)");
}
