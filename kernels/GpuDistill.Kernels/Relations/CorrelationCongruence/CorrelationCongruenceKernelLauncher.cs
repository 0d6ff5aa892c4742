using ILGPU;
using ILGPU.Runtime;

namespace GpuDistill.Kernels.Relations.CorrelationCongruence;

/// <summary>
/// Host side of torchdistill's correlation congruence kernels for one accelerator: loads them once, checks the
/// views, runs the five launches with B x B scratch matrices and waits for them. A device keeps one per accelerator (<c>ComputeDevice.Kernels&lt;T&gt;()</c>).
/// </summary>
public sealed class CorrelationCongruenceKernelLauncher : IKernelSet<CorrelationCongruenceKernelLauncher>
{
    private readonly Accelerator accelerator;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, int, int> gram;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int,
        CorrelationKernelParameters> squares;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, int, CorrelationKernelParameters, float> rows;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> gradient;

    private CorrelationCongruenceKernelLauncher(Accelerator accelerator)
    {
        this.accelerator = accelerator;
        gram = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int>(
            CorrelationCongruenceKernelKernels.Gram);
        squares = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, int, CorrelationKernelParameters>(CorrelationCongruenceKernelKernels.Squares);
        rows = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, int, CorrelationKernelParameters, float>(
            CorrelationCongruenceKernelKernels.Rows);
        gradient = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, int, int>(CorrelationCongruenceKernelKernels.Gradient);
    }

    /// <inheritdoc/>
    public static CorrelationCongruenceKernelLauncher Load(Accelerator accelerator)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        return new CorrelationCongruenceKernelLauncher(accelerator);
    }

    /// <summary>Computes the loss (as per-row shares) and d loss / d student, and synchronises.</summary>
    /// <param name="student">Student features, [B*Ds].</param>
    /// <param name="teacher">Teacher features, [B*Dt].</param>
    /// <param name="gradient">Output d loss / d student, [B*Ds].</param>
    /// <param name="rowLoss">Output per-row loss, [B]; the batch loss is their sum.</param>
    /// <param name="batch">B.</param>
    /// <param name="studentWidth">Ds.</param>
    /// <param name="teacherWidth">Dt.</param>
    /// <param name="p">The correlation kernel.</param>
    public void Run(ArrayView<float> student, ArrayView<float> teacher, ArrayView<float> gradient,
        ArrayView<float> rowLoss, int batch, int studentWidth, int teacherWidth, CorrelationKernelParameters p)
    {
        RelationLaunch.RequirePairViews(student, teacher, gradient, rowLoss, batch, studentWidth, teacherWidth);
        int pairs = RelationLaunch.Threads(batch, batch, "batch");
        int entries = RelationLaunch.Threads(batch, studentWidth, nameof(student));

        using var gramS = RelationLaunch.Scratch(accelerator, pairs);
        using var gramT = RelationLaunch.Scratch(accelerator, pairs);
        using var rowSquares = RelationLaunch.Scratch(accelerator, batch);
        using var gramGradient = RelationLaunch.Scratch(accelerator, pairs);
        gram(pairs, student, gramS.View, batch, studentWidth);
        gram(pairs, teacher, gramT.View, batch, teacherWidth);
        squares(batch, gramS.View, gramT.View, rowSquares.View, batch, p);
        rows(batch, gramS.View, gramT.View, rowSquares.View, gramGradient.View, rowLoss, batch, p,
            1f / ((float)batch * batch));
        this.gradient(entries, student, gramGradient.View, gradient, batch, studentWidth);
        accelerator.Synchronize();
    }
}
