using GpuDistill.Validation;
using static TorchSharp.torch;

namespace GpuDistill;

public static partial class Losses
{
    /// <summary>
    /// The mode-seeking term of MSGAN (Mao et al. 2019): with two batches a generator made from latent codes
    /// <paramref name="latentFirst"/> and <paramref name="latentSecond"/> for the same conditions,
    /// r = mean|first - second| / mean|latentFirst - latentSecond| and the loss is 1 / (r + 1e-5). Minimising it makes
    /// images differ as much as their codes do, against a conditional generator that ignores its code (one image per class).
    /// </summary>
    /// <remarks>A TorchSharp composition; both image batches differentiate, the codes are constants.</remarks>
    /// <param name="first">Images [B, C, H, W], float32.</param>
    /// <param name="second">Images of the same shape, made for the same conditions from other codes.</param>
    /// <param name="latentFirst">The codes of <paramref name="first"/>, [B, Z].</param>
    /// <param name="latentSecond">The codes of <paramref name="second"/>, [B, Z], not all equal to the first.</param>
    /// <returns>A scalar float32 tensor, &gt; 0.</returns>
    public static Tensor ModeSeeking(Tensor first, Tensor second, Tensor latentFirst, Tensor latentSecond)
    {
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(second);
        ArgumentNullException.ThrowIfNull(latentFirst);
        ArgumentNullException.ThrowIfNull(latentSecond);
        if (first.dim() < 2 || first.dtype != ScalarType.Float32)
            throw new ArgumentException($"first is {first.dtype} {TensorChecks.Shape(first)}; expected float32 [B, ...] images.", nameof(first));
        if (!second.shape.SequenceEqual(first.shape) || second.dtype != ScalarType.Float32)
            throw new ArgumentException($"second is {second.dtype} {TensorChecks.Shape(second)}; expected float32 {TensorChecks.Shape(first)}, the shape of first.", nameof(second));
        if (latentFirst.dim() != 2 || latentFirst.shape[0] != first.shape[0])
            throw new ArgumentException($"latentFirst is {TensorChecks.Shape(latentFirst)}; expected [{first.shape[0]}, Z], a code per image.", nameof(latentFirst));
        if (!latentSecond.shape.SequenceEqual(latentFirst.shape))
            throw new ArgumentException($"latentSecond is {TensorChecks.Shape(latentSecond)}; expected {TensorChecks.Shape(latentFirst)}, the shape of latentFirst.", nameof(latentSecond));
        TensorChecks.RequireFinite(first, nameof(first));
        TensorChecks.RequireFinite(second, nameof(second));
        using var scope = NewDisposeScope();
        Tensor codes = (latentFirst - latentSecond).abs().mean().detach();
        if (codes.item<float>() == 0)
            throw new ArgumentException("latentSecond equals latentFirst: the term needs two different codes per condition.", nameof(latentSecond));
        Tensor ratio = (first - second).abs().mean() / codes;
        return ratio.add(1e-5).reciprocal().MoveToOuterDisposeScope();
    }
}
