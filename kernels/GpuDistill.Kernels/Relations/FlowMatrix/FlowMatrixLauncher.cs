using ILGPU;
using ILGPU.Runtime;

namespace GpuDistill.Kernels.Relations.FlowMatrix;

/// <summary>
/// Host side of the FSP kernels for one accelerator: loads them once, checks the views, runs the five launches with
/// two B x C2 x C1 scratch arrays and waits for them. A device keeps one per accelerator (<c>ComputeDevice.Kernels&lt;T&gt;()</c>).
/// </summary>
public sealed class FlowMatrixLauncher : IKernelSet<FlowMatrixLauncher>
{
    private readonly Accelerator accelerator;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int> flow;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float> rows;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int,
        int, float> bottomGradient;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int,
        int, float> topGradient;

    private FlowMatrixLauncher(Accelerator accelerator)
    {
        this.accelerator = accelerator;
        flow = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            int, int, int>(FlowMatrixKernels.Flow);
        rows = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            int, float>(FlowMatrixKernels.Rows);
        bottomGradient = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, int, int, int, float>(FlowMatrixKernels.BottomGradient);
        topGradient = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, int, int, int, float>(FlowMatrixKernels.TopGradient);
    }

    /// <inheritdoc/>
    public static FlowMatrixLauncher Load(Accelerator accelerator)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        return new FlowMatrixLauncher(accelerator);
    }

    /// <summary>Computes the loss (as per-example shares) and d loss / d both student layers, and synchronises.</summary>
    /// <param name="studentBottom">Student bottom layer, [B*C1*HWs].</param>
    /// <param name="studentTop">Student top layer, [B*C2*HWs].</param>
    /// <param name="teacherBottom">Teacher bottom layer, [B*C1*HWt].</param>
    /// <param name="teacherTop">Teacher top layer, [B*C2*HWt].</param>
    /// <param name="bottomGradient">Output d loss / d student bottom, [B*C1*HWs].</param>
    /// <param name="topGradient">Output d loss / d student top, [B*C2*HWs].</param>
    /// <param name="rowLoss">Output per-example loss, [B]; the batch loss is their sum.</param>
    /// <param name="batch">B.</param>
    /// <param name="bottomChannels">C1 (student and teacher alike).</param>
    /// <param name="topChannels">C2 (student and teacher alike).</param>
    /// <param name="studentArea">HWs.</param>
    /// <param name="teacherArea">HWt.</param>
    public void Run(ArrayView<float> studentBottom, ArrayView<float> studentTop, ArrayView<float> teacherBottom,
        ArrayView<float> teacherTop, ArrayView<float> bottomGradient, ArrayView<float> topGradient,
        ArrayView<float> rowLoss, int batch, int bottomChannels, int topChannels, int studentArea, int teacherArea)
    {
        RelationLaunch.RequirePositive(batch, nameof(batch));
        RelationLaunch.RequirePositive(bottomChannels, nameof(bottomChannels));
        RelationLaunch.RequirePositive(topChannels, nameof(topChannels));
        RelationLaunch.RequirePositive(studentArea, nameof(studentArea));
        RelationLaunch.RequirePositive(teacherArea, nameof(teacherArea));
        RelationLaunch.RequireLength(studentBottom, (long)batch * bottomChannels * studentArea, nameof(studentBottom));
        RelationLaunch.RequireLength(studentTop, (long)batch * topChannels * studentArea, nameof(studentTop));
        RelationLaunch.RequireLength(teacherBottom, (long)batch * bottomChannels * teacherArea, nameof(teacherBottom));
        RelationLaunch.RequireLength(teacherTop, (long)batch * topChannels * teacherArea, nameof(teacherTop));
        RelationLaunch.RequireLength(bottomGradient, studentBottom.Length, nameof(bottomGradient));
        RelationLaunch.RequireLength(topGradient, studentTop.Length, nameof(topGradient));
        RelationLaunch.RequireLength(rowLoss, batch, nameof(rowLoss));
        int perExample = RelationLaunch.Threads(bottomChannels, topChannels, "channels");
        int entries = RelationLaunch.Threads(batch, perExample, "flow matrices");
        int bottomEntries = RelationLaunch.Threads(batch, (long)bottomChannels * studentArea, nameof(studentBottom));
        int topEntries = RelationLaunch.Threads(batch, (long)topChannels * studentArea, nameof(studentTop));
        float lossScale = (float)(1.0 / ((double)batch * perExample));
        float gradientScale = (float)(2.0 / ((double)batch * perExample * studentArea));

        using var flowS = RelationLaunch.Scratch(accelerator, entries);
        using var flowT = RelationLaunch.Scratch(accelerator, entries);
        flow(entries, studentBottom, studentTop, flowS.View, bottomChannels, topChannels, studentArea);
        flow(entries, teacherBottom, teacherTop, flowT.View, bottomChannels, topChannels, teacherArea);
        rows(batch, flowS.View, flowT.View, rowLoss, perExample, lossScale);
        this.bottomGradient(bottomEntries, flowS.View, flowT.View, studentTop, bottomGradient, bottomChannels,
            topChannels, studentArea, gradientScale);
        this.topGradient(topEntries, flowS.View, flowT.View, studentBottom, topGradient, bottomChannels, topChannels,
            studentArea, gradientScale);
        accelerator.Synchronize();
    }
}
