using ILGPU;
using ILGPU.Runtime;

namespace GpuDistill.Kernels.Relations.RelationalAngle;

/// <summary>
/// Host side of the RKD angle kernels for one accelerator: loads them once, checks the views, runs the launches
/// with O(B^2 + D) scratch and waits for them. A device keeps one per accelerator (<c>ComputeDevice.Kernels&lt;T&gt;()</c>).
/// </summary>
public sealed class RelationalAngleLauncher : IKernelSet<RelationalAngleLauncher>
{
    private readonly Accelerator accelerator;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, int, int> columnMeans;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> centeredGram;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, int> pairNorms;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float> pairs;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        int, float> mixing;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int,
        int> gradient;

    private RelationalAngleLauncher(Accelerator accelerator)
    {
        this.accelerator = accelerator;
        columnMeans = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int>(
            RelationalAngleKernels.ColumnMeans);
        centeredGram = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, int, int>(RelationalAngleKernels.CenteredGram);
        pairNorms = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int>(
            RelationalAngleKernels.PairNorms);
        pairs = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float>(
            RelationalAngleKernels.Pairs);
        mixing = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float>(RelationalAngleKernels.Mixing);
        gradient = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, int, int>(RelationalAngleKernels.Gradient);
    }

    /// <inheritdoc/>
    public static RelationalAngleLauncher Load(Accelerator accelerator)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        return new RelationalAngleLauncher(accelerator);
    }

    /// <summary>Device memory one call allocates besides its inputs and outputs: 9 B x B matrices and the means.</summary>
    /// <param name="batch">B.</param>
    /// <param name="studentWidth">Ds.</param>
    /// <param name="teacherWidth">Dt.</param>
    /// <returns>Bytes.</returns>
    public static long ScratchBytes(int batch, int studentWidth, int teacherWidth) =>
        sizeof(float) * (9L * batch * batch + studentWidth + teacherWidth);

    /// <summary>Computes the loss (as per-anchor shares) and d loss / d student, and synchronises.</summary>
    /// <param name="student">Student embeddings, [B*Ds] row-major.</param>
    /// <param name="teacher">Teacher embeddings, [B*Dt] row-major.</param>
    /// <param name="gradient">Output d loss / d student, [B*Ds].</param>
    /// <param name="rowLoss">Output per-anchor loss, [B]; the batch loss is their sum.</param>
    /// <param name="batch">B (at least 2 for any angle to exist; B = 1 gives 0).</param>
    /// <param name="studentWidth">Ds.</param>
    /// <param name="teacherWidth">Dt.</param>
    public void Run(ArrayView<float> student, ArrayView<float> teacher, ArrayView<float> gradient,
        ArrayView<float> rowLoss, int batch, int studentWidth, int teacherWidth)
    {
        RelationLaunch.RequirePairViews(student, teacher, gradient, rowLoss, batch, studentWidth, teacherWidth);
        int count = RelationLaunch.Threads(batch, batch, "batch");
        int entries = RelationLaunch.Threads(batch, studentWidth, nameof(student));
        float scale = (float)(1.0 / ((double)batch * batch * batch));

        using var meansS = RelationLaunch.Scratch(accelerator, studentWidth);
        using var meansT = RelationLaunch.Scratch(accelerator, teacherWidth);
        using var gramS = RelationLaunch.Scratch(accelerator, count);
        using var gramT = RelationLaunch.Scratch(accelerator, count);
        using var normS = RelationLaunch.Scratch(accelerator, count);
        using var normT = RelationLaunch.Scratch(accelerator, count);
        using var pairLoss = RelationLaunch.Scratch(accelerator, count);
        using var alpha = RelationLaunch.Scratch(accelerator, count);
        using var beta = RelationLaunch.Scratch(accelerator, count);
        using var middle = RelationLaunch.Scratch(accelerator, count);
        columnMeans(studentWidth, student, meansS.View, batch, studentWidth);
        columnMeans(teacherWidth, teacher, meansT.View, batch, teacherWidth);
        centeredGram(count, student, meansS.View, gramS.View, batch, studentWidth);
        centeredGram(count, teacher, meansT.View, gramT.View, batch, teacherWidth);
        pairNorms(count, gramS.View, normS.View, batch);
        pairNorms(count, gramT.View, normT.View, batch);
        pairs(count, gramS.View, gramT.View, normS.View, normT.View, pairLoss.View, alpha.View, beta.View, middle.View,
            batch, scale);
        using var mix = RelationLaunch.Scratch(accelerator, count);
        mixing(count, gramS.View, gramT.View, normS.View, normT.View, pairLoss.View, alpha.View, beta.View, middle.View,
            mix.View, rowLoss, batch, scale);
        this.gradient(entries, student, meansS.View, mix.View, gradient, batch, studentWidth);
        accelerator.Synchronize();
    }
}
