namespace GpuDistill.Kernels.MultiTeacher;

/// <summary>
/// Scalars of one fused multi-teacher launch. The scales fold in T and the batchmean, so the kernel only multiplies.
/// </summary>
public readonly struct MultiTeacherParameters
{
    /// <summary>Creates the launch scalars.</summary>
    /// <param name="rows">B, rows of the student logits.</param>
    /// <param name="classes">C, classes per row.</param>
    /// <param name="teachers">K, teachers stacked in the teacher view.</param>
    /// <param name="temperature">T &gt; 0.</param>
    /// <param name="weighting">How the teachers are weighted.</param>
    public MultiTeacherParameters(int rows, int classes, int teachers, float temperature, MultiTeacherWeighting weighting)
    {
        Rows = rows;
        Classes = classes;
        Teachers = teachers;
        InverseTemperature = 1f / temperature;
        float perRow = rows > 0 ? 1f / rows : 0f;
        LossScale = temperature * temperature * perRow;
        GradScale = temperature * perRow;
        Confidence = weighting == MultiTeacherWeighting.Confidence ? 1 : 0;
    }

    /// <summary>B.</summary>
    public int Rows { get; }

    /// <summary>C.</summary>
    public int Classes { get; }

    /// <summary>K.</summary>
    public int Teachers { get; }

    /// <summary>1/T.</summary>
    public float InverseTemperature { get; }

    /// <summary>T^2 / B: multiplies each row's KL.</summary>
    public float LossScale { get; }

    /// <summary>T / B: multiplies p - q in the gradient.</summary>
    public float GradScale { get; }

    /// <summary>1 for <see cref="MultiTeacherWeighting.Confidence"/> (labels needed), 0 for fixed weights.</summary>
    public int Confidence { get; }
}
