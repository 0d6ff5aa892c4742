using static TorchSharp.torch;

namespace GpuDistill.Data;

/// <summary>
/// One batch of images and labels as CPU tensors. The caller owns it: dispose it (which disposes both tensors) when
/// done, or let an enclosing TorchSharp dispose scope do so.
/// </summary>
public sealed class ImageBatch : IDisposable
{
    private readonly int[] indices;

    internal ImageBatch(Tensor images, Tensor labels, int[] indices)
    {
        Images = images;
        Labels = labels;
        this.indices = indices;
    }

    /// <summary>Normalised images, float32, shape [B, 1, height, width].</summary>
    public Tensor Images { get; }

    /// <summary>Class labels, int64, shape [B].</summary>
    public Tensor Labels { get; }

    /// <summary>The dataset index of each row, e.g. to look up cached teacher outputs.</summary>
    public IReadOnlyList<int> Indices => indices;

    /// <summary>The number of images, B.</summary>
    public int Count => indices.Length;

    /// <summary>Disposes both tensors.</summary>
    public void Dispose()
    {
        Images.Dispose();
        Labels.Dispose();
    }
}
