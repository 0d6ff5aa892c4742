using static TorchSharp.torch;

namespace GpuDistill;

/// <summary>One batch-norm layer's part in DeepInversion's statistics loss (<see cref="Losses.BatchNormStatistics"/>).</summary>
/// <param name="Input">The layer's input [B, C, H, W] in this forward pass (float32, CPU; captured by a forward hook,
/// e.g. <see cref="Features.BatchNormInputCapture"/>), carrying autograd history back to the images.</param>
/// <param name="RunningMean">The layer's running mean [C].</param>
/// <param name="RunningVariance">The layer's running variance [C].</param>
/// <param name="Weight">w_l, the layer's weight in the sum (DeepInversion: first_bn_multiplier for the first layer,
/// 1 for the others).</param>
public sealed record BatchNormStatisticsInput(Tensor Input, Tensor RunningMean, Tensor RunningVariance, double Weight = 1.0);
