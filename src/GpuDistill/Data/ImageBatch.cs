using static TorchSharp.torch;

namespace GpuDistill.Data;

/// <summary>
/// One batch of images and labels as CPU tensors. The caller owns it: dispose it (which disposes its tensors) when
/// done, or let an enclosing TorchSharp dispose scope do so.
/// </summary>
public sealed class ImageBatch : IDisposable
{
    private readonly int[] indices;

    internal ImageBatch(Tensor images, Tensor labels, int[] indices, TeacherPass? teacherPass = null)
    {
        Images = images;
        Labels = labels;
        this.indices = indices;
        TeacherPass = teacherPass;
    }

    /// <summary>Normalised images, float32, shape [B, 1, height, width].</summary>
    public Tensor Images { get; }

    /// <summary>Class labels, int64, shape [B].</summary>
    public Tensor Labels { get; }

    /// <summary>The dataset index of each row, e.g. to look up cached teacher outputs.</summary>
    public IReadOnlyList<int> Indices => indices;

    /// <summary>The number of images, B.</summary>
    public int Count => indices.Length;

    /// <summary>
    /// A frozen teacher's logits for these images when the batch's source already ran it (a generator's batches,
    /// labelled by the teacher), so that the step need not run it again; null otherwise.
    /// </summary>
    public TeacherPass? TeacherPass { get; }

    /// <summary>Disposes the tensors.</summary>
    public void Dispose()
    {
        Images.Dispose();
        Labels.Dispose();
        TeacherPass?.Logits.Dispose();
    }
}

/// <summary>The logits [B, C] that <paramref name="Teacher"/> gave a batch's images (eval mode, no gradient).</summary>
/// <param name="Teacher">The model that ran.</param>
/// <param name="Logits">Its logits, detached.</param>
public sealed record TeacherPass(TorchSharp.torch.nn.Module Teacher, Tensor Logits);
