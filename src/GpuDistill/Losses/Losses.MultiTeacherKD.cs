using GpuDistill.Compute;
using GpuDistill.Autograd;
using GpuDistill.Kernels.MultiTeacher;
using GpuDistill.Kernels.Rows;
using GpuDistill.Validation;
using static TorchSharp.torch;

namespace GpuDistill;

public static partial class Losses
{
    /// <summary>
    /// Multi-teacher knowledge distillation in one fused launch for all K teachers: T^2 KL(q || p) averaged over the
    /// batch, where q = sum_k w_k softmax(t_k / T) is the weighted mixture of the teachers' softened distributions and
    /// p = softmax(student / T).
    /// </summary>
    /// <remarks>
    /// <para>
    /// <paramref name="weights"/> is either <see cref="MultiTeacherWeights.Fixed"/> (one weight per teacher,
    /// normalised to sum to one), <see cref="MultiTeacherWeights.Uniform"/> (1/K each) or
    /// <see cref="MultiTeacherWeights.Confidence"/> (per example, each teacher's probability of the true label at
    /// T = 1, normalised over the teachers; needs <paramref name="labels"/>). With one teacher this is Hinton KD's soft
    /// term, <see cref="SoftmaxKL"/> with softWeight 1 and no hard term.
    /// </para>
    /// <para>
    /// log q is a log-sum-exp over the teachers of log w_k + log softmax(t_k / T), so it is finite wherever a weight
    /// is positive, whatever the logits' size; columns where q underflows add 0 (0 log 0 = 0). <c>loss.backward()</c>
    /// gives the student (T/B)(p - q) times the upstream gradient. The teachers never receive a gradient, even when
    /// they require one (their .grad stays null); the confidence weights are not differentiated either.
    /// </para>
    /// </remarks>
    /// <param name="student">Student logits [B, C], float32, CPU.</param>
    /// <param name="teachers">The K teachers' logits stacked as [K, B, C], float32, CPU (never receives a gradient).</param>
    /// <param name="temperature">T &gt; 0.</param>
    /// <param name="weights">How the teachers are weighted.</param>
    /// <param name="labels">Labels [B] (int64 or int32) in [0, C); required by confidence weights, checked and unused
    /// otherwise.</param>
    /// <param name="device">Accelerator to run on; <see cref="ComputeDevice.Default"/> when null.</param>
    /// <param name="layout">Kernel thread layout; auto picks per accelerator.</param>
    /// <returns>A scalar float32 tensor.</returns>
    public static Tensor MultiTeacherKD(Tensor student, Tensor teachers, double temperature, MultiTeacherWeights weights,
        Tensor? labels = null, ComputeDevice? device = null, RowLayout layout = RowLayout.Auto)
    {
        (int rows, int classes) = TensorChecks.RequireLogits(student, nameof(student));
        int count = TensorChecks.RequireTeacherStack(teachers, nameof(teachers), student, nameof(student));
        TensorChecks.RequireTemperature(temperature, nameof(temperature));
        ArgumentNullException.ThrowIfNull(weights);
        float[] fixedWeights = weights.ForTeachers(count, nameof(weights));
        bool confidence = weights.Kind == MultiTeacherWeighting.Confidence;
        if (confidence && labels is null)
            throw new ArgumentException("labels are required with MultiTeacherWeights.Confidence.", nameof(labels));

        Tensor? labels32 = labels is null ? null : TensorChecks.RequireClassLabels(labels, nameof(labels), rows, classes);
        Tensor? weights32 = null;
        try
        {
            if (!confidence)
            {
                weights32 = tensor(fixedWeights);
                labels32?.Dispose();
                labels32 = null;
            }
            var p = new MultiTeacherParameters(rows, classes, count, (float)temperature, weights.Kind);
            var request = new MultiTeacherRequest(device ?? ComputeDevice.Default, layout, p, weights32, labels32);
            return MultiTeacherFunction.apply(student, teachers, request);
        }
        finally
        {
            labels32?.Dispose();
            weights32?.Dispose();
        }
    }
}
