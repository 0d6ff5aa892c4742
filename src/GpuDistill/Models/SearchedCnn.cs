namespace GpuDistill.Models;

/// <summary>
/// A <see cref="StagedCnn"/> of any per-stage widths, depths and kernel sizes, no dropout: the CNN family of the
/// student search (<see cref="Search.StudentArchitecture"/>), named like <c>cnn-8x2k3-16x2k3-32x2k3</c> (which is
/// <see cref="SmallCnn"/>'s shape), a stage of depthwise-separable blocks written with <c>s</c> for <c>k</c>
/// (<c>cnn-12x2k3-24x2k3-72x2s3</c>). Its stages carry the teacher's names and spatial sizes, so every method and the
/// ONNX export treat it as the zoo's CNNs.
/// </summary>
public sealed class SearchedCnn : StagedCnn
{
    /// <summary>Builds the CNN.</summary>
    /// <param name="architecture">Its factory name.</param>
    /// <param name="widths">Channels of stages 1-3.</param>
    /// <param name="depths">Convolutions per stage.</param>
    /// <param name="kernels">Kernel size per stage (odd).</param>
    /// <param name="seed">Seed of the weight initialisation.</param>
    /// <param name="separable">Per stage, whether its blocks are depthwise-separable; null for none.</param>
    public SearchedCnn(string architecture, IReadOnlyList<int> widths, IReadOnlyList<int> depths, IReadOnlyList<int> kernels, long seed,
        IReadOnlyList<bool>? separable = null)
        : base(architecture, widths, depths, kernels, dropout: 0.0, seed, separable)
    {
    }
}
