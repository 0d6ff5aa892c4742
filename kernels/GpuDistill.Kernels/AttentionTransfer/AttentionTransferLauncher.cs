using ILGPU;
using ILGPU.Runtime;

namespace GpuDistill.Kernels.AttentionTransfer;

/// <summary>
/// Host side of the attention kernels for one accelerator: loads every kernel once, checks the views and enqueues
/// the launches of the fused loss, the map and the map's backward. A device keeps one per accelerator (<c>ComputeDevice.Kernels&lt;T&gt;()</c>).
/// </summary>
/// <remarks>
/// All kernels are compiled when the launcher is created, not on first launch, so the map's backward (which runs
/// inside libtorch's backward callback) never compiles.
/// </remarks>
public sealed class AttentionTransferLauncher : IKernelSet<AttentionTransferLauncher>
{
    private readonly Accelerator accelerator;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionTransferParameters, int> pairChannelSumsKernel;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionTransferParameters> exampleLossKernel;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionMapParameters, int> featureGradientKernel;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, AttentionMapParameters, int> channelSumsKernel;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, AttentionMapParameters> normalizeMapsKernel;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionMapParameters> mapBackwardKernel;

    private AttentionTransferLauncher(Accelerator accelerator)
    {
        this.accelerator = accelerator;
        pairChannelSumsKernel = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionTransferParameters, int>(
            AttentionTransferKernels.PairChannelSums);
        exampleLossKernel = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionTransferParameters>(
            AttentionTransferKernels.ExampleLoss);
        featureGradientKernel = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionMapParameters, int>(
            AttentionTransferKernels.FeatureGradient);
        channelSumsKernel = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, AttentionMapParameters, int>(
            AttentionTransferKernels.ChannelSums);
        normalizeMapsKernel = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, AttentionMapParameters>(
            AttentionTransferKernels.NormalizeMaps);
        mapBackwardKernel = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionMapParameters>(
            AttentionTransferKernels.MapBackward);
    }

    /// <inheritdoc/>
    public static AttentionTransferLauncher Load(Accelerator accelerator)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        return new AttentionTransferLauncher(accelerator);
    }

    /// <summary>
    /// How many positions of one example each thread of the map-entry kernels owns: 1 on GPUs (consecutive threads
    /// read consecutive addresses), and on the CPU accelerator runs long enough for about four simulated threads per
    /// host thread, since each simulated thread costs microseconds.
    /// </summary>
    /// <remarks>
    /// Measured on the CPU accelerator (2 cores, 64 x 256 x 8 x 8, the gradient kernel): one thread per feature
    /// element took 1.5 to 3 s, one per position 10 to 20 ms, one per example (64 positions each) 4.6 ms.
    /// </remarks>
    /// <param name="batch">B.</param>
    /// <param name="positions">H*W.</param>
    /// <returns>The run length, between 1 and <paramref name="positions"/>.</returns>
    public int PositionsPerThread(int batch, int positions)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batch);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(positions);
        if (accelerator.AcceleratorType != AcceleratorType.CPU) return 1;
        int runsPerExample = Math.Max(1, (4 * accelerator.MaxNumThreads + batch - 1) / batch);
        return Math.Max(1, (positions + runsPerExample - 1) / runsPerExample);
    }

    /// <summary>
    /// Enqueues the fused attention-transfer loss: each example's loss and d loss / d student, in three launches on
    /// the accelerator's default stream (the caller synchronises).
    /// </summary>
    /// <param name="student">Student feature, [B*Cs*H*W] (NCHW).</param>
    /// <param name="teacher">Teacher feature, [B*Ct*H*W] (NCHW).</param>
    /// <param name="studentSums">Scratch for v_s, [B*H*W].</param>
    /// <param name="teacherSums">Scratch for v_t, [B*H*W].</param>
    /// <param name="mapGradient">Scratch for d loss / d v_s, [B*H*W].</param>
    /// <param name="gradient">Output d loss / d student, [B*Cs*H*W].</param>
    /// <param name="exampleLoss">Output per-example loss, [B]; the batch loss is their sum.</param>
    /// <param name="p">Launch scalars.</param>
    /// <param name="positionsPerThread">Positions per thread of the map-entry kernels; 0 picks
    /// <see cref="PositionsPerThread"/>.</param>
    public void LaunchLoss(ArrayView<float> student, ArrayView<float> teacher, ArrayView<float> studentSums,
        ArrayView<float> teacherSums, ArrayView<float> mapGradient, ArrayView<float> gradient,
        ArrayView<float> exampleLoss, in AttentionTransferParameters p, int positionsPerThread = 0)
    {
        RequireShape(p.Student, nameof(p));
        RequireShape(p.Teacher, nameof(p));
        if (p.Teacher.Batch != p.Student.Batch || p.Teacher.Positions != p.Student.Positions)
            throw new ArgumentException("Student and teacher maps must have the same B and H*W.", nameof(p));
        RequireLength(student, p.Student.Elements, nameof(student));
        RequireLength(teacher, p.Teacher.Elements, nameof(teacher));
        RequireLength(studentSums, p.Student.MapEntries, nameof(studentSums));
        RequireLength(teacherSums, p.Student.MapEntries, nameof(teacherSums));
        RequireLength(mapGradient, p.Student.MapEntries, nameof(mapGradient));
        RequireLength(gradient, p.Student.Elements, nameof(gradient));
        RequireLength(exampleLoss, p.Student.Batch, nameof(exampleLoss));

        int run = Run(p.Student, positionsPerThread, out int threads);
        pairChannelSumsKernel(threads, student, teacher, studentSums, teacherSums, p, run);
        exampleLossKernel(p.Student.Batch, studentSums, teacherSums, mapGradient, exampleLoss, p);
        featureGradientKernel(threads, student, mapGradient, gradient, p.Student, run);
    }

    /// <summary>Enqueues the attention map of one feature: a = v / max(||v||, eps) and each example's ||v||.</summary>
    /// <param name="feature">The feature, [B*C*H*W] (NCHW).</param>
    /// <param name="map">Output a, [B*H*W].</param>
    /// <param name="norms">Output ||v_b||, [B] (for <see cref="LaunchMapBackward"/>).</param>
    /// <param name="m">The map scalars.</param>
    /// <param name="positionsPerThread">Positions per thread of the map-entry kernels; 0 picks
    /// <see cref="PositionsPerThread"/>.</param>
    public void LaunchMap(ArrayView<float> feature, ArrayView<float> map, ArrayView<float> norms,
        in AttentionMapParameters m, int positionsPerThread = 0)
    {
        RequireShape(m, nameof(m));
        RequireLength(feature, m.Elements, nameof(feature));
        RequireLength(map, m.MapEntries, nameof(map));
        RequireLength(norms, m.Batch, nameof(norms));

        int run = Run(m, positionsPerThread, out int threads);
        channelSumsKernel(threads, feature, map, m, run);
        normalizeMapsKernel(m.Batch, map, norms, m);
    }

    /// <summary>Enqueues the map's backward: d loss / d feature from the upstream gradient d loss / d map.</summary>
    /// <param name="feature">The feature of the forward, [B*C*H*W].</param>
    /// <param name="map">The map of the forward, [B*H*W].</param>
    /// <param name="norms">The norms of the forward, [B].</param>
    /// <param name="upstream">d loss / d map, [B*H*W].</param>
    /// <param name="mapGradient">Scratch for d loss / d v, [B*H*W].</param>
    /// <param name="gradient">Output d loss / d feature, [B*C*H*W].</param>
    /// <param name="m">The map scalars.</param>
    /// <param name="positionsPerThread">Positions per thread of the map-entry kernels; 0 picks
    /// <see cref="PositionsPerThread"/>.</param>
    public void LaunchMapBackward(ArrayView<float> feature, ArrayView<float> map, ArrayView<float> norms,
        ArrayView<float> upstream, ArrayView<float> mapGradient, ArrayView<float> gradient, in AttentionMapParameters m,
        int positionsPerThread = 0)
    {
        RequireShape(m, nameof(m));
        RequireLength(feature, m.Elements, nameof(feature));
        RequireLength(map, m.MapEntries, nameof(map));
        RequireLength(norms, m.Batch, nameof(norms));
        RequireLength(upstream, m.MapEntries, nameof(upstream));
        RequireLength(mapGradient, m.MapEntries, nameof(mapGradient));
        RequireLength(gradient, m.Elements, nameof(gradient));

        mapBackwardKernel(m.Batch, map, norms, upstream, mapGradient, m);
        int run = Run(m, positionsPerThread, out int threads);
        featureGradientKernel(threads, feature, mapGradient, gradient, m, run);
    }

    private int Run(in AttentionMapParameters m, int positionsPerThread, out int threads)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(positionsPerThread);
        int run = positionsPerThread == 0 ? PositionsPerThread(m.Batch, m.Positions) : Math.Min(positionsPerThread, m.Positions);
        threads = m.Batch * ((m.Positions + run - 1) / run);
        return run;
    }

    private static void RequireShape(in AttentionMapParameters m, string name)
    {
        if (m.Batch <= 0 || m.Channels <= 0 || m.Positions <= 0)
            throw new ArgumentOutOfRangeException(name, $"B, C and H*W must be positive; got {m.Batch}, {m.Channels}, {m.Positions}.");
        if (m.Elements > int.MaxValue)
            throw new ArgumentOutOfRangeException(name, m.Elements, "a feature must have fewer than 2^31 elements.");
        if (!float.IsFinite(m.Exponent) || m.Exponent <= 0)
            throw new ArgumentOutOfRangeException(name, m.Exponent, "p must be finite and > 0.");
    }

    private static void RequireLength(ArrayView<float> view, long expected, string name)
    {
        if (view.Length != expected)
            throw new ArgumentException($"{name} has {view.Length} elements; expected {expected}.", name);
    }
}
