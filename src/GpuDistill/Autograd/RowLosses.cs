using System.Runtime.InteropServices;
using GpuDistill.Validation;
using static TorchSharp.torch;

namespace GpuDistill.Autograd;

/// <summary>Reduces the per-row losses a kernel wrote into the batch loss.</summary>
internal static class RowLosses
{
    /// <summary>Sums a float32 vector in double, so long batches add no rounding of their own.</summary>
    public static double Sum(Tensor rowLoss)
    {
        ReadOnlySpan<float> values = MemoryMarshal.Cast<byte, float>(rowLoss.bytes);
        double sum = 0;
        foreach (float v in values) sum += v;
        return sum;
    }

    /// <summary>
    /// The batch loss of a softened-softmax kernel: the row losses' sum, or, when it is not finite, the input that
    /// holds NaN or infinity named, else an overflow error (the gradient is freed first).
    /// </summary>
    /// <param name="rowLoss">The per-row losses.</param>
    /// <param name="gradient">The gradient the kernel wrote (disposed on error).</param>
    /// <param name="student">The student logits.</param>
    /// <param name="teacher">The teacher logits.</param>
    /// <param name="teacherName">The teacher argument's name.</param>
    /// <param name="inverseTemperature">1/T, for the message.</param>
    public static double SumFinite(Tensor rowLoss, Tensor gradient, Tensor student, Tensor teacher, string teacherName,
        float inverseTemperature)
    {
        double loss = Sum(rowLoss);
        if (double.IsFinite(loss)) return loss;
        gradient.Dispose();
        TensorChecks.RequireFinite(student, nameof(student));
        TensorChecks.RequireFinite(teacher, teacherName);
        throw new ArgumentException(
            $"The loss overflowed float32: student and teacher logits divided by the temperature ({1 / inverseTemperature}) must stay within float32 range.",
            nameof(student));
    }
}
