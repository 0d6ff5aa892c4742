using GpuDistill.Autograd;
using GpuDistill.Compute;
using GpuDistill.Compute.HostSimd;
using GpuDistill.Kernels.Rows;
using GpuDistill.Validation;
using static TorchSharp.torch;

namespace GpuDistill;

/// <summary>A batch of logits as a fused row loss sees it, once the inputs are checked.</summary>
/// <param name="Rows">B.</param>
/// <param name="Classes">C.</param>
/// <param name="HasLabels">Whether labels were given.</param>
/// <param name="CountedRows">Rows whose label is not the ignore index (B without labels): the N losses average over.</param>
/// <param name="IgnoreIndex">Label that marks a padding row.</param>
public readonly record struct RowBatch(int Rows, int Classes, bool HasLabels, int CountedRows, int IgnoreIndex);

public static partial class Losses
{
    /// <summary>
    /// Any fused row loss (a struct implementing <see cref="IRowLoss"/>) as a TorchSharp loss: the shared row kernels
    /// compute each row's loss and the student's gradient in one launch, and <c>loss.backward()</c> gives the student
    /// logits that gradient times the upstream gradient (the teacher none, unless the loss is two-sided,
    /// <see cref="IRowLoss.WritesTeacherGradient"/>, and the teacher requires a gradient). This is how a user's own row
    /// loss runs; on a host <c>simd</c> device it runs on ILGPU's CPU accelerator.
    /// </summary>
    /// <typeparam name="TLoss">The row loss.</typeparam>
    /// <param name="student">Student logits [B, C], float32, CPU.</param>
    /// <param name="teacher">Teacher logits [B, C], float32, CPU (receives a gradient only from a two-sided loss).</param>
    /// <param name="create">Builds the launch scalars for the checked batch.</param>
    /// <param name="labels">Optional labels [B] (int64 or int32) in [0, C) or <paramref name="ignoreIndex"/>.</param>
    /// <param name="ignoreIndex">Label that marks a padding row.</param>
    /// <param name="device">Accelerator to run on; <see cref="ComputeDevice.Default"/> when null.</param>
    /// <param name="layout">Kernel thread layout; auto picks per accelerator.</param>
    /// <returns>A scalar float32 tensor.</returns>
    public static Tensor RowLoss<TLoss>(Tensor student, Tensor teacher, Func<RowBatch, TLoss> create, Tensor? labels = null,
        int ignoreIndex = DefaultIgnoreIndex, ComputeDevice? device = null, RowLayout layout = RowLayout.Auto)
        where TLoss : unmanaged, IRowLoss =>
        RowLoss<TLoss, NoHostPath<TLoss>>(student, teacher, create, null, labels, ignoreIndex, device, layout);

    /// <summary>
    /// The row-loss call every row loss shares: checks the logits, then the loss's own settings
    /// (<paramref name="checkSettings"/>), then the labels; builds the launch scalars and applies the autograd function.
    /// </summary>
    internal static Tensor RowLoss<TLoss, THost>(Tensor student, Tensor teacher, Func<RowBatch, TLoss> create,
        Action? checkSettings, Tensor? labels, int ignoreIndex, ComputeDevice? device, RowLayout layout)
        where TLoss : unmanaged, IRowLoss
        where THost : struct, IHostRowLoss<THost, TLoss>
    {
        ArgumentNullException.ThrowIfNull(create);
        (int rows, int classes) = TensorChecks.RequireLogitPair(student, nameof(student), teacher, nameof(teacher));
        checkSettings?.Invoke();

        Tensor? labels32 = null;
        int counted = rows;
        if (labels is not null)
            (labels32, counted) = TensorChecks.RequireLabels(labels, nameof(labels), rows, classes, ignoreIndex);

        try
        {
            TLoss loss = create(new RowBatch(rows, classes, labels32 is not null, counted, ignoreIndex));
            var request = new RowLossRequest<TLoss>(device ?? ComputeDevice.Default, layout, loss, labels32);
            return RowLossFunction<TLoss, THost>.apply(student, teacher, request);
        }
        finally
        {
            labels32?.Dispose();
        }
    }
}
