using GpuDistill.Interop;
using TorchSharp;
using GpuDistill.Compute;
using GpuDistill.Autograd;
using GpuDistill.Validation;
using static TorchSharp.torch;

namespace GpuDistill;

public static partial class Losses
{
    /// <summary>
    /// FSP, the flow of solution procedure (Yim et al., CVPR 2017): per example the C2 x C1 flow matrix
    /// G[c2, c1] = (1/HW) sum_k top[c2, k] bottom[c1, k] between two layers of one network, and the mean over
    /// B C2 C1 of (G_s - G_t)^2.
    /// </summary>
    /// <remarks>
    /// Within each network the larger of the two maps is average-pooled (adaptive_avg_pool2d) to the smaller, per
    /// dimension, as RepDistiller does for its square maps; the pooling is a TorchSharp op, so autograd chains the
    /// kernel's gradients through it. Student and teacher need the same channel counts (C1 and C2); their spatial
    /// sizes may differ. <c>loss.backward()</c> gives both student layers their gradients times the upstream
    /// gradient and the teacher nothing. RepDistiller uses it (weight 50) only to initialise the student; sum the
    /// loss over consecutive layer pairs for its full form. On a host <c>simd</c> device <see cref="RelationComposites"/>
    /// computes it with libtorch's batched GEMM (faster on a CPU than the kernels on ILGPU's CPU accelerator).
    /// </remarks>
    /// <param name="studentBottom">Student's lower layer [B, C1, H, W], float32, CPU.</param>
    /// <param name="studentTop">Student's upper layer [B, C2, H', W'], float32, CPU.</param>
    /// <param name="teacherBottom">Teacher's lower layer [B, C1, h, w], float32, CPU (never receives a gradient).</param>
    /// <param name="teacherTop">Teacher's upper layer [B, C2, h', w'], float32, CPU (never receives a gradient).</param>
    /// <param name="device">Accelerator to run on; <see cref="ComputeDevice.Default"/> when null.</param>
    /// <returns>A scalar float32 tensor.</returns>
    public static Tensor FlowMatrix(Tensor studentBottom, Tensor studentTop, Tensor teacherBottom, Tensor teacherTop,
        ComputeDevice? device = null)
    {
        RequireFlowInputs(studentBottom, studentTop, teacherBottom, teacherTop);
        RequireFiniteFlowInputs(studentBottom, studentTop, teacherBottom, teacherTop);

        // Not disposed here: autograd and the caller's dispose scope own the pooled and reshaped maps.
        (Tensor sb, Tensor st) = PooledPair(studentBottom, studentTop);
        (Tensor tb, Tensor tt) = PooledPair(teacherBottom, teacherTop);
        ComputeDevice target = device ?? ComputeDevice.Default;
        return target.UsesHostSimd
            ? RelationComposites.FlowMatrix(sb, st, tb, tt)
            : FlowMatrixFunction.apply(sb, st, tb, tt, new FlowMatrixRequest(target));
    }

    /// <summary>
    /// FSP (as <see cref="FlowMatrix"/> on the host) between a teacher pair and a student pair seen through per-channel
    /// affine maps y = W x + c (<see cref="Features.ChannelProjection.AffineMap"/>; null for none), without building
    /// the mapped maps: the flow of the mapped maps is Wt (G Wb^T + t c_b^T) + c_t (Wb b + c_b)^T, with G the student
    /// pair's own flow and t, b its per-example spatial means, so the maps are applied to the Cs2 x Cs1 flow instead
    /// of at every position.
    /// </summary>
    /// <remarks>Finiteness is checked only when the loss is not finite (naming the first input at fault), which spares
    /// four passes over the maps on every call. The teacher pair's flow may be given (<see cref="TeacherFlowMatrix"/>,
    /// kept per image by the term): it is a constant, and with the teacher's wider maps most of the work.</remarks>
    internal static Tensor ProjectedFlowMatrix(Tensor studentBottom, (Tensor Weight, Tensor Shift)? bottomMap,
        Tensor studentTop, (Tensor Weight, Tensor Shift)? topMap, Tensor teacherBottom, Tensor teacherTop, Tensor? teacherFlow = null)
    {
        RequireFlowInputs(studentBottom, studentTop, teacherBottom, teacherTop, bottomMap?.Weight.shape[0], topMap?.Weight.shape[0]);
        long[] flowShape = [teacherTop.shape[0], teacherTop.shape[1], teacherBottom.shape[1]];
        if (teacherFlow is not null && (teacherFlow.dtype != ScalarType.Float32 || !teacherFlow.shape.SequenceEqual(flowShape)))
            throw new ArgumentException($"{nameof(teacherFlow)} must be float32 [{string.Join(", ", flowShape)}] (images, top channels, bottom channels); got {teacherFlow.dtype} {TensorChecks.Shape(teacherFlow)}.", nameof(teacherFlow));

        (Tensor sb, Tensor st) = PooledPair(studentBottom, studentTop);
        using Scalar area = ((double)sb.shape[2]).ToScalar();
        Tensor flow = st.bmm(sb.transpose(1, 2)).div(area); // [B, Cs2, Cs1]
        Tensor bottomMean = sb.mean([2L]); // [B, Cs1]
        if (bottomMap is var (wb, cb))
        {
            flow = flow.matmul(wb.t()).add(st.mean([2L]).unsqueeze(2).mul(cb), Scalars.One);
            bottomMean = bottomMean.matmul(wb.t()).add(cb, Scalars.One);
        }
        if (topMap is var (wt, ct))
            flow = wt.matmul(flow).add(ct.unsqueeze(1).mul(bottomMean.unsqueeze(1)), Scalars.One); // + c_t (mapped bottom mean)^T
        Tensor loss = flow.add(teacherFlow ?? TeacherFlowMatrix(teacherBottom, teacherTop), Scalars.MinusOne).square().mean();
        if (!float.IsFinite(loss.item<float>())) RequireFiniteFlowInputs(studentBottom, studentTop, teacherBottom, teacherTop);
        return loss;
    }

    /// <summary>The teacher pair's flow matrices [B, C2, C1] (upper layer's channels by lower's), its maps pooled to
    /// the smaller of their sizes, without gradient: what <see cref="ProjectedFlowMatrix"/> compares the student's
    /// with.</summary>
    /// <param name="teacherBottom">Teacher's lower layer [B, C1, h, w].</param>
    /// <param name="teacherTop">Teacher's upper layer [B, C2, h', w'].</param>
    /// <returns>[B, C2, C1] float32.</returns>
    internal static Tensor TeacherFlowMatrix(Tensor teacherBottom, Tensor teacherTop)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        (Tensor tb, Tensor tt) = PooledPair(teacherBottom.detach(), teacherTop.detach());
        using Scalar area = ((double)tb.shape[2]).ToScalar();
        return tt.bmm(tb.transpose(1, 2)).div(area).MoveToOuterDisposeScope();
    }

    /// <summary>Ranks, devices, batch sizes and channel counts of an FSP call; the student's channels are those of a
    /// channel map where one is given (null: the map's own).</summary>
    private static void RequireFlowInputs(Tensor studentBottom, Tensor studentTop, Tensor teacherBottom, Tensor teacherTop,
        long? bottomMapChannels = null, long? topMapChannels = null)
    {
        TensorChecks.RequireFloatCpu(studentBottom, nameof(studentBottom), 4);
        TensorChecks.RequireFloatCpu(studentTop, nameof(studentTop), 4);
        TensorChecks.RequireFloatCpu(teacherBottom, nameof(teacherBottom), 4);
        TensorChecks.RequireFloatCpu(teacherTop, nameof(teacherTop), 4);
        long studentBottomChannels = bottomMapChannels ?? studentBottom.shape[1];
        long studentTopChannels = topMapChannels ?? studentTop.shape[1];
        long batch = studentBottom.shape[0];
        RequireBatch(studentTop, nameof(studentTop));
        RequireBatch(teacherBottom, nameof(teacherBottom));
        RequireBatch(teacherTop, nameof(teacherTop));
        if (teacherBottom.shape[1] != studentBottomChannels)
        {
            throw new ArgumentException(
                $"FSP compares flow matrices entry by entry, so {nameof(teacherBottom)} must have the channels of {nameof(studentBottom)} ({studentBottomChannels}); got shape {TensorChecks.Shape(teacherBottom)}.",
                nameof(teacherBottom));
        }
        if (teacherTop.shape[1] != studentTopChannels)
        {
            throw new ArgumentException(
                $"FSP compares flow matrices entry by entry, so {nameof(teacherTop)} must have the channels of {nameof(studentTop)} ({studentTopChannels}); got shape {TensorChecks.Shape(teacherTop)}.",
                nameof(teacherTop));
        }
        TensorChecks.RequireRelationFeatures(studentBottom, nameof(studentBottom));
        TensorChecks.RequireRelationFeatures(studentTop, nameof(studentTop));
        TensorChecks.RequireRelationFeatures(teacherBottom, nameof(teacherBottom));
        TensorChecks.RequireRelationFeatures(teacherTop, nameof(teacherTop));

        void RequireBatch(Tensor t, string name)
        {
            if (t.shape[0] != batch)
                throw new ArgumentException($"{name} must have the batch size of {nameof(studentBottom)} ({batch}); got shape {TensorChecks.Shape(t)}.", name);
        }
    }

    /// <summary>Throws, naming the first, where an FSP input holds NaN or infinity.</summary>
    private static void RequireFiniteFlowInputs(Tensor studentBottom, Tensor studentTop, Tensor teacherBottom, Tensor teacherTop)
    {
        TensorChecks.RequireFinite(studentBottom, nameof(studentBottom));
        TensorChecks.RequireFinite(studentTop, nameof(studentTop));
        TensorChecks.RequireFinite(teacherBottom, nameof(teacherBottom));
        TensorChecks.RequireFinite(teacherTop, nameof(teacherTop));
    }

    /// <summary>Pools the larger of two maps to the smaller per dimension and returns both as [B, C, HW].</summary>
    private static (Tensor Bottom, Tensor Top) PooledPair(Tensor bottom, Tensor top)
    {
        long height = Math.Min(bottom.shape[2], top.shape[2]);
        long width = Math.Min(bottom.shape[3], top.shape[3]);
        return (Flow(bottom), Flow(top));

        Tensor Flow(Tensor map)
        {
            Tensor pooled = map.shape[2] == height && map.shape[3] == width
                ? map
                : nn.functional.adaptive_avg_pool2d(map, [height, width]);
            return pooled.reshape(map.shape[0], map.shape[1], height * width);
        }
    }
}
