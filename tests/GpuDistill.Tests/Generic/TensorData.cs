using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Generic;

/// <summary>Moves test data between arrays and TorchSharp tensors.</summary>
public static class TensorData
{
    public static Tensor Matrix(float[] values, int rows, int columns, bool requiresGrad = false) =>
        tensor(values, [rows, columns]).requires_grad_(requiresGrad);

    public static Tensor Labels(int[] labels) => tensor(labels.Select(y => (long)y).ToArray());

    public static float[] ToArray(Tensor t) => MemoryMarshal.Cast<byte, float>(t.contiguous().bytes).ToArray();
}
