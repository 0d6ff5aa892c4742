namespace GpuDistill.Methods;

/// <summary>
/// A way of training (the survey's schemes and teacher-student set-ups): which models learn, from whom and with
/// which losses. A scheme only decides that; the <see cref="Training.Trainer"/> runs the loop, the progress, the
/// checkpoints and the records, through the <see cref="SchemeContext"/>.
/// </summary>
public interface IScheme
{
    /// <summary>The name in <c>--scheme</c> and in the results (e.g. "dml").</summary>
    string Name { get; }

    /// <summary>Whether it reads the recipe's teacher (<see cref="SchemeContext.Teacher"/>); a recipe whose methods and
    /// schemes read none trains none.</summary>
    bool ReadsTeacher => true;

    /// <summary>Why this scheme cannot train <paramref name="student"/>, or null when it can. Asked for every student
    /// before anything trains, so a recipe it cannot run is refused at once, not hours into the run.</summary>
    /// <param name="student">The student architecture.</param>
    string? CannotTrain(string student) => null;

    /// <summary>Trains (or finds trained) this scheme's models for one student architecture and seed.</summary>
    /// <param name="context">Data, teacher, settings and the trainer's services.</param>
    /// <param name="student">The student architecture.</param>
    /// <param name="seed">The seed.</param>
    /// <returns>The rows to report, e.g. each peer and the peers' ensemble.</returns>
    IReadOnlyList<SchemeRow> Run(SchemeContext context, string student, int seed);
}

/// <summary>One reported model of a scheme.</summary>
/// <param name="Role">What it is within the scheme ("peer 1", "ensemble", "gen 2", "exit 1"); empty for the student.</param>
/// <param name="Run">Its record.</param>
/// <param name="Note">A remark shown beside it (e.g. the cost of an exit); null for none.</param>
/// <param name="Fidelity">How it agrees with the recipe's teacher on the test set, and its calibration; null where
/// not measured (an ensemble, an exit).</param>
public sealed record SchemeRow(string Role, Training.TrainingRun Run, string? Note = null, Diagnostics.ResultsRowDiagnostics? Fidelity = null);
