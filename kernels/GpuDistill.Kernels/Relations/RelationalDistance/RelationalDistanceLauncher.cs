using ILGPU;
using ILGPU.Runtime;

namespace GpuDistill.Kernels.Relations.RelationalDistance;

/// <summary>
/// Host side of the RKD distance kernels for one accelerator: loads them once, checks the views, runs the six
/// launches with B x B scratch matrices and waits for them. A device keeps one per accelerator (<c>ComputeDevice.Kernels&lt;T&gt;()</c>).
/// </summary>
public sealed class RelationalDistanceLauncher : IKernelSet<RelationalDistanceLauncher>
{
    private readonly Accelerator accelerator;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, int, int> squaredDistances;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> rowSums;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, ArrayView<float>, int, float> rows;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, int> weights;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> gradient;

    private RelationalDistanceLauncher(Accelerator accelerator)
    {
        this.accelerator = accelerator;
        squaredDistances = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int,
            int>(RelationalDistanceKernels.SquaredDistances);
        rowSums = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, int>(RelationalDistanceKernels.RowSums);
        rows = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float>(RelationalDistanceKernels.Rows);
        weights = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(RelationalDistanceKernels.Weights);
        gradient = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, int, int>(RelationalDistanceKernels.Gradient);
    }

    /// <inheritdoc/>
    public static RelationalDistanceLauncher Load(Accelerator accelerator)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        return new RelationalDistanceLauncher(accelerator);
    }

    /// <summary>Computes the loss (as per-row shares) and d loss / d student, and synchronises.</summary>
    /// <param name="student">Student embeddings, [B*Ds] row-major.</param>
    /// <param name="teacher">Teacher embeddings, [B*Dt] row-major.</param>
    /// <param name="gradient">Output d loss / d student, [B*Ds].</param>
    /// <param name="rowLoss">Output per-row loss, [B]; the batch loss is their sum.</param>
    /// <param name="batch">B (at least 2: the mean distance needs a pair).</param>
    /// <param name="studentWidth">Ds.</param>
    /// <param name="teacherWidth">Dt.</param>
    public void Run(ArrayView<float> student, ArrayView<float> teacher, ArrayView<float> gradient,
        ArrayView<float> rowLoss, int batch, int studentWidth, int teacherWidth)
    {
        if (batch < 2)
            throw new ArgumentOutOfRangeException(nameof(batch), batch, "batch must be at least 2: RKD compares pairs of examples.");
        RelationLaunch.RequirePairViews(student, teacher, gradient, rowLoss, batch, studentWidth, teacherWidth);
        int pairs = RelationLaunch.Threads(batch, batch, "batch");
        int entries = RelationLaunch.Threads(batch, studentWidth, nameof(student));

        using var squaredS = RelationLaunch.Scratch(accelerator, pairs);
        using var squaredT = RelationLaunch.Scratch(accelerator, pairs);
        using var sums = RelationLaunch.Scratch(accelerator, 2L * batch);
        using var moment = RelationLaunch.Scratch(accelerator, batch);
        squaredDistances(pairs, student, squaredS.View, batch, studentWidth);
        squaredDistances(pairs, teacher, squaredT.View, batch, teacherWidth);
        rowSums(batch, squaredS.View, squaredT.View, sums.View, batch);
        using var slopes = RelationLaunch.Scratch(accelerator, pairs);
        using var w = RelationLaunch.Scratch(accelerator, pairs);
        rows(batch, squaredS.View, squaredT.View, sums.View, slopes.View, moment.View, rowLoss, batch,
            1f / ((float)batch * batch));
        weights(batch, squaredS.View, sums.View, slopes.View, moment.View, w.View, batch);
        this.gradient(entries, student, w.View, gradient, batch, studentWidth);
        accelerator.Synchronize();
    }
}
