namespace GpuDistill.Training;

/// <summary>
/// A run whose loss, one of its terms or the student's outputs became NaN or infinite. The message names the run, what
/// became non-finite, the epoch and step, and the checkpoint that was kept (the last completed epoch's).
/// </summary>
public sealed class TrainingDivergedException : Exception
{
    /// <summary>Creates the exception.</summary>
    public TrainingDivergedException() { }

    /// <summary>Creates the exception.</summary>
    public TrainingDivergedException(string message) : base(message) { }

    /// <summary>Creates the exception.</summary>
    public TrainingDivergedException(string message, Exception inner) : base(message, inner) { }

    /// <summary>What became non-finite, e.g. "term 'fsp'" or "the student's logits".</summary>
    public string What { get; init; } = "";

    /// <summary>The 1-based epoch.</summary>
    public int Epoch { get; init; }

    /// <summary>The 1-based step within the epoch.</summary>
    public int Step { get; init; }
}

/// <summary>A loss term whose value came out NaN or infinite (the trainer turns it into a <see cref="TrainingDivergedException"/>).</summary>
public sealed class NonFiniteTermException : Exception
{
    /// <summary>Creates the exception.</summary>
    public NonFiniteTermException() { }

    /// <summary>Creates the exception.</summary>
    public NonFiniteTermException(string message) : base(message) { }

    /// <summary>Creates the exception.</summary>
    public NonFiniteTermException(string message, Exception inner) : base(message, inner) { }

    /// <summary>The term's name.</summary>
    public string Term { get; init; } = "";
}
