using ILGPU;
using ILGPU.Runtime;

namespace GpuDistill.Kernels.Relations.CorrelationCongruence;

/// <summary>
/// Host side of RepDistiller's correlation congruence kernels for one accelerator: loads them once, checks the views,
/// runs both launches and waits for them. A device keeps one per accelerator (<c>ComputeDevice.Kernels&lt;T&gt;()</c>).
/// </summary>
public sealed class CorrelationCongruenceRepDistillerLauncher : IKernelSet<CorrelationCongruenceRepDistillerLauncher>
{
    private readonly Accelerator accelerator;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float> rows;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float> gradient;

    private CorrelationCongruenceRepDistillerLauncher(Accelerator accelerator)
    {
        this.accelerator = accelerator;
        rows = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            int, int, float>(CorrelationCongruenceRepDistillerKernels.Rows);
        gradient = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, int, int, float>(CorrelationCongruenceRepDistillerKernels.Gradient);
    }

    /// <inheritdoc/>
    public static CorrelationCongruenceRepDistillerLauncher Load(Accelerator accelerator)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        return new CorrelationCongruenceRepDistillerLauncher(accelerator);
    }

    /// <summary>Computes the loss (as per-example shares) and d loss / d student, and synchronises.</summary>
    /// <param name="student">Student embeddings, [B*D].</param>
    /// <param name="teacher">Teacher embeddings, [B*D] (the same width).</param>
    /// <param name="gradient">Output d loss / d student, [B*D]; the teacher's is its negative.</param>
    /// <param name="rowLoss">Output per-example loss, [B]; the batch loss is their sum.</param>
    /// <param name="batch">B (at least 2: the loss pairs consecutive examples).</param>
    /// <param name="width">D.</param>
    public void Run(ArrayView<float> student, ArrayView<float> teacher, ArrayView<float> gradient,
        ArrayView<float> rowLoss, int batch, int width)
    {
        if (batch < 2)
            throw new ArgumentOutOfRangeException(nameof(batch), batch, "batch must be at least 2: the loss pairs consecutive examples.");
        RelationLaunch.RequirePositive(width, nameof(width));
        RelationLaunch.RequireLength(student, (long)batch * width, nameof(student));
        RelationLaunch.RequireLength(teacher, (long)batch * width, nameof(teacher));
        RelationLaunch.RequireLength(gradient, (long)batch * width, nameof(gradient));
        RelationLaunch.RequireLength(rowLoss, batch, nameof(rowLoss));
        int entries = RelationLaunch.Threads(batch, width, nameof(student));
        float scale = 1f / (batch - 1);
        rows(batch, student, teacher, rowLoss, batch, width, scale);
        this.gradient(entries, student, teacher, gradient, batch, width, scale);
        accelerator.Synchronize();
    }
}
