using GpuDistill.Compute;
using GpuDistill.Kernels.Rows;

namespace GpuDistill.References;

/// <summary>The inputs of one row-loss check: logits, labels (null for none), the counted rows, T.</summary>
/// <param name="Rows">B.</param>
/// <param name="Classes">C.</param>
/// <param name="Student">Student logits [B*C].</param>
/// <param name="Teacher">Teacher logits [B*C].</param>
/// <param name="Labels">Labels [B] (ignore index -100 for padding), or null.</param>
/// <param name="Counted">Rows that are not padding.</param>
/// <param name="Temperature">T.</param>
/// <param name="Extreme">Whether the logits are extreme (|z| up to 1e4): some losses check other settings then.</param>
public sealed record RowInputs(int Rows, int Classes, float[] Student, float[] Teacher, int[]? Labels, int Counted,
    double Temperature, bool Extreme)
{
    /// <summary>The label of a padding row.</summary>
    public const int IgnoreIndex = -100;

    /// <summary>The largest |logit| of either side.</summary>
    public double MaxAbs => Math.Max(Student.Max(Math.Abs), Teacher.Max(Math.Abs));

    /// <summary>T^2 (1 + max|z| / T): the size of a softened-softmax divergence's terms.</summary>
    public double SoftMagnitude => Temperature * Temperature * (1 + MaxAbs / Temperature);

    /// <summary>The counted rows, at least 1 (what the gradient's natural scale divides by).</summary>
    public int PerRow => Math.Max(1, Counted);
}

/// <summary>One launch of a row loss and its float64 reference on the same inputs, with the scales to judge it by.</summary>
/// <param name="Loss">The kernel's loss (row losses summed in float64).</param>
/// <param name="Gradient">The kernel's gradient.</param>
/// <param name="ExpectedLoss">The reference loss.</param>
/// <param name="ExpectedGradient">The reference gradient.</param>
/// <param name="Magnitude">The size of the loss's terms (the absolute loss floor is 1e-6 of it).</param>
/// <param name="GradientScale">The natural size of a gradient entry, e.g. w T / N (the gradient's floor is 1e-2 of it).</param>
public sealed record RowRun(double Loss, float[] Gradient, double ExpectedLoss, double[] ExpectedGradient, double Magnitude,
    double GradientScale);

/// <summary>
/// A built-in row loss as the kernel checks see it: its family name, its settings for given inputs, its reference. Each
/// loss's reference file declares its case (a sealed subclass), and <see cref="All"/> finds them, so the GPU bundle's
/// checks and the tests' family lists cover a new row loss without being edited.
/// </summary>
public abstract class RowLossCase
{
    /// <summary>Every case of this assembly, by family name.</summary>
    public static IReadOnlyList<RowLossCase> All { get; } =
        [.. typeof(RowLossCase).Assembly.GetTypes()
            .Where(t => t.IsSubclassOf(typeof(RowLossCase)) && !t.IsAbstract)
            .Select(t => (RowLossCase)Activator.CreateInstance(t)!)
            .OrderBy(c => c.Family, StringComparer.Ordinal)];

    /// <summary>The family's name in the checks, e.g. "softmax-kl".</summary>
    public abstract string Family { get; }

    /// <summary>Whether the loss always needs labels (DKD's target class).</summary>
    public virtual bool AlwaysLabels => false;

    /// <summary>Settings of the check to add to its name (e.g. JSD's beta); empty for none.</summary>
    /// <param name="extreme">Whether the logits are extreme.</param>
    public virtual string Describe(bool extreme) => "";

    /// <summary>Launches the loss on <paramref name="device"/> and computes its reference.</summary>
    /// <param name="device">The device.</param>
    /// <param name="x">The inputs.</param>
    /// <param name="layout">The kernel layout.</param>
    /// <returns>Both results and the scales.</returns>
    public abstract RowRun Run(ComputeDevice device, RowInputs x, RowLayout layout);
}

/// <summary>A row-loss case of the row loss <typeparamref name="TLoss"/>: the launch is the same for every loss.</summary>
/// <typeparam name="TLoss">The row loss.</typeparam>
public abstract class RowLossCase<TLoss> : RowLossCase where TLoss : unmanaged, IRowLoss
{
    /// <inheritdoc/>
    public sealed override RowRun Run(ComputeDevice device, RowInputs x, RowLayout layout)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(x);
        TLoss loss = Create(x);
        RowLossLauncher<TLoss> launcher = device.Kernels<RowLossLauncher<TLoss>>();
        // A two-sided loss's gradient is the student's followed by the teacher's, in the kernel's run and the reference.
        (double value, float[] gradient) = TLoss.WritesTeacherGradient
            ? Joined(KernelLaunches.RunTwoSidedRows(device, x.Student, x.Teacher, x.Labels, x.Rows,
                (s, t, l, g, tg, r) => launcher.Launch(s, t, l, g, tg, r, loss, layout)))
            : KernelLaunches.RunRows(device, x.Student, x.Teacher, x.Labels, x.Rows,
                (s, t, l, g, r) => launcher.Launch(s, t, l, g, r, loss, layout));
        (double expected, double[] expectedGradient) = Reference(x, gradient);
        return new RowRun(value, gradient, expected, expectedGradient, Magnitude(x), GradientScale(x));
    }

    private static (double Loss, float[] Gradient) Joined((double Loss, float[] Student, float[] Teacher) run) =>
        (run.Loss, [.. run.Student, .. run.Teacher]);

    /// <summary>The launch scalars for the inputs.</summary>
    protected abstract TLoss Create(RowInputs x);

    /// <summary>The float64 reference on the inputs (for a two-sided loss, the student's gradient then the teacher's).</summary>
    protected abstract (double Loss, double[] Gradient) Reference(RowInputs x);

    /// <summary>
    /// The reference given the kernel's gradient (the student's first): a loss with a kink (the L1 distance) takes the
    /// kernel's side of it where float32 cannot tell; the others ignore it.
    /// </summary>
    protected virtual (double Loss, double[] Gradient) Reference(RowInputs x, float[]? kernelGradient) => Reference(x);

    /// <summary>The size of the loss's terms.</summary>
    protected virtual double Magnitude(RowInputs x) => x.SoftMagnitude;

    /// <summary>The natural size of a gradient entry.</summary>
    protected abstract double GradientScale(RowInputs x);
}
