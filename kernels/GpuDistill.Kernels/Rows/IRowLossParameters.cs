namespace GpuDistill.Rows;

/// <summary>What every fused row loss's launch scalars tell the host-side launcher.</summary>
public interface IRowLossParameters
{
    /// <summary>B, rows of the logits.</summary>
    int Rows { get; }

    /// <summary>C, classes per row.</summary>
    int Classes { get; }

    /// <summary>1 when a label view is given.</summary>
    int HasLabels { get; }

    /// <summary>1/T.</summary>
    float InverseTemperature { get; }
}
