using ILGPU;
using ILGPU.Runtime;

namespace GpuDistill.Kernels.Relations.SimilarityPreserving;

/// <summary>
/// Host side of the similarity-preserving kernels for one accelerator: loads them once, checks the views, runs the
/// four launches with B x B scratch matrices and waits for them. A device keeps one per accelerator (<c>ComputeDevice.Kernels&lt;T&gt;()</c>).
/// </summary>
public sealed class SimilarityPreservingLauncher : IKernelSet<SimilarityPreservingLauncher>
{
    private readonly Accelerator accelerator;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, int, int> gram;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float> rows;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> gradient;

    private SimilarityPreservingLauncher(Accelerator accelerator)
    {
        this.accelerator = accelerator;
        gram = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int>(
            SimilarityPreservingKernels.Gram);
        rows = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, int, float>(SimilarityPreservingKernels.Rows);
        gradient = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, int, int>(SimilarityPreservingKernels.Gradient);
    }

    /// <inheritdoc/>
    public static SimilarityPreservingLauncher Load(Accelerator accelerator)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        return new SimilarityPreservingLauncher(accelerator);
    }

    /// <summary>Computes the loss (as per-row shares) and d loss / d student, and synchronises.</summary>
    /// <param name="student">Student features, [B*Ds] row-major.</param>
    /// <param name="teacher">Teacher features, [B*Dt] row-major.</param>
    /// <param name="gradient">Output d loss / d student, [B*Ds].</param>
    /// <param name="rowLoss">Output per-row loss, [B]; the batch loss is their sum.</param>
    /// <param name="batch">B.</param>
    /// <param name="studentWidth">Ds.</param>
    /// <param name="teacherWidth">Dt.</param>
    public void Run(ArrayView<float> student, ArrayView<float> teacher, ArrayView<float> gradient,
        ArrayView<float> rowLoss, int batch, int studentWidth, int teacherWidth)
    {
        RelationLaunch.RequirePairViews(student, teacher, gradient, rowLoss, batch, studentWidth, teacherWidth);
        int pairs = RelationLaunch.Threads(batch, batch, "batch");
        int entries = RelationLaunch.Threads(batch, studentWidth, nameof(student));

        using var gramS = RelationLaunch.Scratch(accelerator, pairs);
        using var gramT = RelationLaunch.Scratch(accelerator, pairs);
        gram(pairs, student, gramS.View, batch, studentWidth);
        gram(pairs, teacher, gramT.View, batch, teacherWidth);
        using var gramGradient = RelationLaunch.Scratch(accelerator, pairs);
        rows(batch, gramS.View, gramT.View, gramGradient.View, rowLoss, batch, 1f / ((float)batch * batch));
        this.gradient(entries, student, gramGradient.View, gradient, batch, studentWidth);
        accelerator.Synchronize();
    }
}
