using GpuDistill.Validation;
using static TorchSharp.torch;

namespace GpuDistill;

public static partial class Losses
{
    /// <summary>
    /// Adaptive DeepInversion's competition term (Yin et al. 2020, loss-spec-2 7.2): 1 - clamp(JS', 0, 1), with
    /// P = softmax(student / T), Q = softmax(teacher / T), M = (P + Q) / 2, each clamped to [0.01, 0.99] without
    /// renormalising, and JS' = KL(M || P) / 2 + KL(M || Q) / 2, each summed over classes and averaged over rows
    /// (batchmean), M the KL target as in the reference code. Minimising it drives the images that an inversion makes
    /// to where teacher and student disagree, which keeps them varied.
    /// </summary>
    /// <remarks>
    /// A TorchSharp composition; both sides differentiate (the reference does not detach the student). The clamps zero
    /// the gradient wherever a probability falls outside [0.01, 0.99], and so does the outer clamp once JS' leaves [0, 1].
    /// </remarks>
    /// <param name="student">Student logits [B, C], float32.</param>
    /// <param name="teacher">Teacher logits [B, C], float32.</param>
    /// <param name="temperature">T &gt; 0; the reference hard-codes 3.</param>
    /// <returns>A scalar float32 tensor in [0, 1].</returns>
    public static Tensor Competition(Tensor student, Tensor teacher, double temperature = 3.0)
    {
        TensorChecks.RequireLogitPair(student, nameof(student), teacher, nameof(teacher));
        TensorChecks.RequireTemperature(temperature, nameof(temperature));
        TensorChecks.RequireFinite(student, nameof(student));
        TensorChecks.RequireFinite(teacher, nameof(teacher));
        using var scope = NewDisposeScope();
        Tensor p = nn.functional.softmax(student / temperature, 1);
        Tensor q = nn.functional.softmax(teacher / temperature, 1);
        Tensor m = ((p + q) * 0.5).clamp(0.01, 0.99);
        p = p.clamp(0.01, 0.99);
        q = q.clamp(0.01, 0.99);
        long rows = student.shape[0];
        Tensor logM = m.log();
        Tensor js = ((m * (logM - p.log())).sum() * 0.5 + (m * (logM - q.log())).sum() * 0.5) / rows;
        return (1.0 - js.clamp(0.0, 1.0)).MoveToOuterDisposeScope();
    }
}
