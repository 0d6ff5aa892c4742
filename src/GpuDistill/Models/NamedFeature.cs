using static TorchSharp.torch;

namespace GpuDistill.Models;

/// <summary>One intermediate activation of a model, under the stage name that distillers select it by.</summary>
/// <param name="Name">Stage name, e.g. <c>"stage2"</c> or <c>"hidden1"</c>; unique within one <see cref="ModelOutput"/>.</param>
/// <param name="Value">The activation, e.g. [B, C, H, W] for a convolutional stage or [B, D] for a dense layer.</param>
public readonly record struct NamedFeature(string Name, Tensor Value);
