using GpuDistill.Compute;
using GpuDistill.Autograd;
using static TorchSharp.torch;

namespace GpuDistill;

public static partial class Losses
{
    /// <summary>
    /// The step every batch-relation loss shares once its inputs are checked: features flattened per example, then
    /// on a host <c>simd</c> device the libtorch composite (<see cref="RelationComposites"/>: GEMMs beat ILGPU's CPU
    /// accelerator, which simulates one thread per matrix entry), on an ILGPU accelerator the fused kernel pair. A loss
    /// whose function has a host path of its own (RKD angle) gives no composite: its function runs everywhere.
    /// </summary>
    /// <param name="student">Student features [B, ...].</param>
    /// <param name="teacher">Teacher features [B, ...].</param>
    /// <param name="device">Accelerator to run on; <see cref="ComputeDevice.Default"/> when null.</param>
    /// <param name="composite">The loss in libtorch ops, on flattened features; null when <paramref name="fused"/> has a
    /// host path.</param>
    /// <param name="fused">The loss's autograd function over the kernels, on flattened features.</param>
    /// <returns>A scalar float32 tensor.</returns>
    private static Tensor BatchRelation(Tensor student, Tensor teacher, ComputeDevice? device,
        Func<Tensor, Tensor, Tensor>? composite, Func<Tensor, Tensor, RelationalRequest, Tensor> fused)
    {
        // Not disposed here: autograd and the caller's dispose scope own the flattened views.
        Tensor flatStudent = student.flatten(1);
        Tensor flatTeacher = teacher.flatten(1);
        ComputeDevice target = device ?? ComputeDevice.Default;
        return target.UsesHostSimd && composite is not null
            ? composite(flatStudent, flatTeacher)
            : fused(flatStudent, flatTeacher, new RelationalRequest(target));
    }
}
