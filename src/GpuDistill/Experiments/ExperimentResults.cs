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
/// <param name="Tuning">Each tuned method's grid on the validation split, every point's accuracy and the pick; empty
/// without tuning.</param>
public sealed record ExperimentResults(string Name, string Data, string Machine, string Accelerator,
    TrainingRun Teacher, IReadOnlyList<MethodRun> Runs, IReadOnlyList<SummaryRow> Summary, IReadOnlyList<TuningResult>? Tuning = null)
{
    /// <summary>The teacher record of an experiment that trained none (no epochs; its accuracy is NaN).</summary>
    public static TrainingRun NoTeacher { get; } = new("teacher", "none", 0, 0, "", []);

    /// <summary>The rows read the validation split, not the test set (a pilot: <see cref="DataSection.RowsOnValidation"/>).</summary>
    public bool RowsOnValidation { get; init; }

    /// <summary>Whether the experiment trained (or reused) a teacher.</summary>
    public bool HasTeacher => Teacher.Epochs.Count > 0;
}

/// <summary>A method's tuning on one student: every grid point with its last-epoch validation accuracy, and the pick.</summary>
/// <param name="Method">The method.</param>
/// <param name="Student">The student architecture.</param>
/// <param name="Points">The grid points in order, each with its validation accuracy and training time.</param>
/// <param name="Picked">The index of the best point (the first of equals), the one the final rows use.</param>
/// <param name="Epochs">Epochs of each point's run.</param>
/// <param name="Seed">Seed of each point's run.</param>
public sealed record TuningResult(string Method, string Student, IReadOnlyList<TuningPoint> Points, int Picked, int Epochs, int Seed);

/// <summary>One grid point's run.</summary>
/// <param name="Point">The loss and settings tried.</param>
/// <param name="ValidationAccuracy">Its validation accuracy after the last epoch (NaN when the run diverged).</param>
/// <param name="Seconds">Its training time.</param>
/// <param name="Diverged">Why it stopped, when it diverged; null otherwise.</param>
public sealed record TuningPoint(Methods.GridPoint Point, double ValidationAccuracy, double Seconds, string? Diverged = null);

/// <summary>A student run with the method that produced it.</summary>
/// <param name="Method">Method name.</param>
/// <param name="Student">Student architecture.</param>
/// <param name="Run">The run.</param>
/// <param name="Note">A remark on the row (e.g. the cost of a self-distillation exit); null for none.</param>
/// <param name="Fidelity">Agreement with the teacher and calibration on the test set; null where not measured.</param>
public sealed record MethodRun(string Method, string Student, TrainingRun Run, string? Note = null,
    Diagnostics.ResultsRowDiagnostics? Fidelity = null);

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
/// <param name="Agreement">Mean top-1 agreement with the teacher on the test set, in [0, 1]; null where not measured.</param>
/// <param name="Ece">Mean expected calibration error (15 bins) on the test set; null where not measured.</param>
public sealed record SummaryRow(string Method, string Student, string Loss, int Seeds, double MeanAccuracy,
    double StdAccuracy, double? GapRecovered, long Parameters, double TrainSeconds, StepTimeSplit StepSplit,
    long AdapterParameters = 0, string? Note = null, double? Agreement = null, double? Ece = null)
{
    /// <summary>Parameters as shown in tables: the student's, plus learned adapters' when there are any.</summary>
    public string ParametersText => AdapterParameters == 0
        ? Parameters.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)
        : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{Parameters:N0} (+{AdapterParameters:N0} adapter)");
}
