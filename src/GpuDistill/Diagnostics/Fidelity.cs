using GpuDistill.Data;
using GpuDistill.Models;
using GpuDistill.Validation;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill.Diagnostics;

/// <summary>How closely a student matches its teacher's predictions (Stanton et al. 2021; loss-spec-2 12.3).</summary>
/// <param name="Examples">n, the examples measured.</param>
/// <param name="Agreement">Top-1 agreement: the fraction of examples on which the two argmaxes are equal, in [0, 1].</param>
/// <param name="MeanKL">KL(teacher || student) at T = 1 in nats, averaged over the examples (per example, not per batch).</param>
public sealed record FidelityResult(int Examples, double Agreement, double MeanKL);

/// <summary>
/// Fidelity metrics (Stanton et al., NeurIPS 2021, "Does knowledge distillation really work?"): top-1 agreement and
/// the mean predictive KL(p_t || q_s) at T = 1, computed in float64.
/// </summary>
/// <remarks>
/// gnosis averages the KL within each batch and then over batches; this is the plain per-example mean, which differs
/// only when the last batch is short. An argmax tie picks the lowest class index (torch.argmax). An ensemble teacher
/// reduces its members to log of the mean probability before calling this (loss-spec-2 12.3).
/// </remarks>
public static class Fidelity
{
    /// <summary>Agreement and mean KL of two sets of logits for the same examples.</summary>
    /// <param name="teacherLogits">Teacher logits [n, C], float32, CPU, finite.</param>
    /// <param name="studentLogits">Student logits [n, C], same shape, finite.</param>
    /// <returns>The metrics.</returns>
    public static FidelityResult FromLogits(Tensor teacherLogits, Tensor studentLogits)
    {
        (int rows, _) = TensorChecks.RequireLogitPair(studentLogits, nameof(studentLogits), teacherLogits, nameof(teacherLogits));
        TensorChecks.RequireFinite(teacherLogits, nameof(teacherLogits));
        TensorChecks.RequireFinite(studentLogits, nameof(studentLogits));
        using var scope = NewDisposeScope();
        long agreeing = teacherLogits.argmax(1).eq(studentLogits.argmax(1)).sum().item<long>();
        Tensor logP = teacherLogits.to_type(ScalarType.Float64).log_softmax(1);
        Tensor logQ = studentLogits.to_type(ScalarType.Float64).log_softmax(1);
        // Each example's KL is >= 0; the clamp only removes float64 rounding of a match to -1e-17.
        using Scalar zero = 0.0.ToScalar();
        double klSum = logP.exp().mul(logP.sub(logQ)).sum(1).clamp_min(zero).sum().item<double>();
        return new FidelityResult(rows, agreeing / (double)rows, klSum / rows);
    }

    /// <summary>Agreement and mean KL of a student against its teacher on <paramref name="data"/> (e.g. the test set).</summary>
    /// <param name="teacher">The teacher (run in evaluation mode; its mode is restored).</param>
    /// <param name="student">The student, likewise.</param>
    /// <param name="data">The images.</param>
    /// <param name="batchSize">Images per forward pass.</param>
    /// <returns>The metrics.</returns>
    public static FidelityResult Measure(DistillModel teacher, DistillModel student, ImageDataset data, int batchSize = Training.Evaluation.InferenceBatchSize)
    {
        ArgumentNullException.ThrowIfNull(teacher);
        ArgumentNullException.ThrowIfNull(student);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        using var scope = NewDisposeScope();
        Tensor[] logits = ModelPasses.Logits([teacher, student], data, batchSize);
        return FromLogits(logits[0], logits[1]);
    }
}
