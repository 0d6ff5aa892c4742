using GpuDistill.Kernels.Relations;
using ILGPU;
using ILGPU.Runtime;

namespace GpuDistill.Kernels.Diagnostics;

/// <summary>
/// Host side of the linear-CKA kernels for one accelerator: loads them once, checks the views, centres the columns,
/// runs the fused Gram statistics and adds them up in float64 (<see cref="HsicTerms"/>). A device keeps one per
/// accelerator (<c>ComputeDevice.Kernels&lt;T&gt;()</c>).
/// </summary>
public sealed class LinearCkaLauncher : IKernelSet<LinearCkaLauncher>
{
    /// <summary>
    /// Gram columns j per thread: n * ceil(n / 64) threads (64,000 at n = 2,000) keep a GPU busy, and each thread's
    /// float32 sums run over 64 terms before the host adds them in float64.
    /// </summary>
    public const int RunLength = 64;

    private readonly Accelerator accelerator;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, int, int> columnMeans;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, int, int, int, int> gramStatistics;

    private LinearCkaLauncher(Accelerator accelerator)
    {
        this.accelerator = accelerator;
        columnMeans = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int>(
            LinearCkaKernels.ColumnMeans);
        gramStatistics = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int>(LinearCkaKernels.GramStatistics);
    }

    /// <inheritdoc/>
    public static LinearCkaLauncher Load(Accelerator accelerator)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        return new LinearCkaLauncher(accelerator);
    }

    /// <summary>The HSIC terms of X and Y over their n rows; synchronises.</summary>
    /// <param name="x">X, [n*p1] row-major.</param>
    /// <param name="y">Y, [n*p2] row-major, the same n examples.</param>
    /// <param name="rows">n, at least 2 (one example centres to zero, where CKA is undefined).</param>
    /// <param name="widthX">p1.</param>
    /// <param name="widthY">p2.</param>
    /// <returns>The terms, summed in float64.</returns>
    public HsicTerms Run(ArrayView<float> x, ArrayView<float> y, int rows, int widthX, int widthY)
    {
        if (rows < 2)
            throw new ArgumentOutOfRangeException(nameof(rows), rows,
                "CKA needs at least 2 examples: a single example centres to zero, where CKA is undefined.");
        RelationLaunch.RequirePositive(widthX, nameof(widthX));
        RelationLaunch.RequirePositive(widthY, nameof(widthY));
        RelationLaunch.RequireLength(x, (long)rows * widthX, nameof(x));
        RelationLaunch.RequireLength(y, (long)rows * widthY, nameof(y));
        int runs = (rows + RunLength - 1) / RunLength;
        int threads = RelationLaunch.Threads(rows, runs, nameof(rows));
        int values = RelationLaunch.Threads(threads, LinearCkaKernels.StatisticCount, nameof(rows));

        using var meansX = RelationLaunch.Scratch(accelerator, widthX);
        using var meansY = RelationLaunch.Scratch(accelerator, widthY);
        using var statistics = RelationLaunch.Scratch(accelerator, values);
        columnMeans(widthX, x, meansX.View, rows, widthX);
        columnMeans(widthY, y, meansY.View, rows, widthY);
        gramStatistics(threads, x, meansX.View, y, meansY.View, statistics.View, rows, widthX, widthY, RunLength);
        accelerator.Synchronize();
        double[] sums = Array.ConvertAll(statistics.GetAsArray1D(), v => (double)v);
        return HsicTerms.FromStatistics(sums, rows, runs);
    }
}
