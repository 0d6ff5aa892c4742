using GpuDistill.Compute;
using GpuDistill.Interop;
using ILGPU;
using static TorchSharp.torch;

namespace GpuDistill.Autograd;

/// <summary>What a relation-loss call needs besides its two feature tensors (already validated).</summary>
/// <param name="Device">The accelerator to run on.</param>
internal record RelationalRequest(ComputeDevice Device);

/// <summary>
/// Autograd function over a relation kernel (student [B, Ds] and teacher [B, Dt] features in; per-row loss shares
/// and the student's gradient out). Moves the tensors to the device, runs the kernels, and sums the row shares in
/// float64. Its apply arguments are (student, teacher, request).
/// </summary>
/// <typeparam name="TSelf">The concrete function.</typeparam>
/// <typeparam name="TRequest">The loss's request.</typeparam>
internal abstract class RelationalLossFunction<TSelf, TRequest> : FusedGradientsFunction<TSelf>
    where TSelf : RelationalLossFunction<TSelf, TRequest>, new()
    where TRequest : RelationalRequest
{
    /// <summary>Runs the loss's kernels and synchronises (the caller holds the device's launch lock).</summary>
    /// <param name="request">The request.</param>
    /// <param name="student">Student features, [B*Ds].</param>
    /// <param name="teacher">Teacher features, [B*Dt].</param>
    /// <param name="gradient">Output d loss / d student, [B*Ds].</param>
    /// <param name="rowLoss">Output per-row loss shares, [B].</param>
    /// <param name="batch">B.</param>
    /// <param name="studentWidth">Ds.</param>
    /// <param name="teacherWidth">Dt.</param>
    protected abstract void Run(TRequest request, ArrayView<float> student, ArrayView<float> teacher,
        ArrayView<float> gradient, ArrayView<float> rowLoss, int batch, int studentWidth, int teacherWidth);

    /// <summary>
    /// The loss on a host (<c>simd</c>) device without ILGPU, where the loss has such a path: fills
    /// <paramref name="gradient"/> and <paramref name="rowLoss"/> as <see cref="Run"/> would, and returns true; false
    /// (the default) runs the kernels on the device's CPU accelerator instead.
    /// </summary>
    /// <param name="request">The request.</param>
    /// <param name="student">Student features, [B, Ds], contiguous.</param>
    /// <param name="teacher">Teacher features, [B, Dt], contiguous.</param>
    /// <param name="gradient">Output d loss / d student, [B, Ds].</param>
    /// <param name="rowLoss">Output per-row loss shares, [B].</param>
    /// <returns>Whether it ran.</returns>
    protected virtual bool RunOnHost(TRequest request, Tensor student, Tensor teacher, Tensor gradient, Tensor rowLoss) =>
        false;

    /// <summary>The gradients by argument position; the student's alone unless a loss trains its teacher input too.</summary>
    /// <param name="student">The student argument.</param>
    /// <param name="teacher">The teacher argument.</param>
    /// <param name="gradient">d loss / d student.</param>
    /// <returns>The gradients.</returns>
    protected virtual IReadOnlyList<Tensor?> Gradients(Tensor student, Tensor teacher, Tensor gradient) => [gradient];

    /// <inheritdoc/>
    protected sealed override (Tensor Loss, IReadOnlyList<Tensor?> Gradients) ComputeGradients(object[] vars)
    {
        var student = (Tensor)vars[0];
        var teacher = (Tensor)vars[1];
        var request = (TRequest)vars[2];
        ComputeDevice device = request.Device;
        int batch = (int)student.shape[0];

        using Tensor s = student.detach().contiguous();
        using Tensor t = teacher.detach().contiguous();
        Tensor gradient = empty_like(s);
        using Tensor rowLoss = empty(batch, ScalarType.Float32);

        if (!(device.UsesHostSimd && RunOnHost(request, s, t, gradient, rowLoss)))
        {
            lock (device.LaunchLock)
            {
                using var ds = DeviceArray<float>.ForInput(device, s);
                using var dt = DeviceArray<float>.ForInput(device, t);
                using var dg = DeviceArray<float>.ForOutput(device, gradient);
                using var dr = DeviceArray<float>.ForOutput(device, rowLoss);
                Run(request, ds.View, dt.View, dg.View, dr.View, batch, (int)s.shape[1], (int)t.shape[1]);
                dg.CopyToTensor();
                dr.CopyToTensor();
            }
        }

        double loss = RowLosses.Sum(rowLoss);
        if (!double.IsFinite(loss))
        {
            // The inputs were checked finite, so only float32 overflow in the pairwise products gets here.
            gradient.Dispose();
            throw new ArgumentException(
                "The loss overflowed float32: the features' pairwise products must stay within float32 range (scale them down).",
                "student");
        }
        return (tensor((float)loss), Gradients(student, teacher, gradient));
    }
}
