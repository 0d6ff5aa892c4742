namespace GpuDistill.Quantization;

/// <summary>The per-tensor quantization of a layer's input as it stands: what the ONNX export writes as a Q/DQ pair.</summary>
/// <param name="Scale">s.</param>
/// <param name="ZeroPoint">zp, in the grid.</param>
/// <param name="Grid">The integer grid.</param>
public readonly record struct ActivationQuantization(float Scale, int ZeroPoint, IntegerGrid Grid);
