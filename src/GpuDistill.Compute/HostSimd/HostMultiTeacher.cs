using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using GpuDistill.Kernels.MultiTeacher;

namespace GpuDistill.Compute.HostSimd;

/// <summary>
/// The fused multi-teacher KD on the host backend: the same parameter struct, loss, gradient, weighting, label and
/// NaN rules as the ILGPU kernel (<see cref="MultiTeacherKernels"/>), computed eight columns at a time with
/// <see cref="Vector256"/> on the host's threads, straight on the caller's memory.
/// </summary>
/// <remarks>
/// Per column it takes K + 1 exps and one log (2K + 1 exps with confidence weights), where the kernel takes 2K + 2
/// (3K + 2). Measured on this project's 2-core machine under a load average of 16 (docs/perf/README.md, one thread,
/// forward + backward through the bridge, 4096 x 1000, K = 5, T = 4): 65 ms, against 447 ms for the ILGPU kernel on
/// the CPU accelerator, 120 ms for five host SoftmaxKL calls and 232 ms for the TorchSharp composite.
/// </remarks>
public static class HostSimdMultiTeacher
{
    /// <summary>Computes every row's loss and the gradient, on the calling thread or in parallel over rows.</summary>
    /// <param name="student">Student logits, [B*C] row-major.</param>
    /// <param name="teachers">Teacher logits, [K*B*C]: teacher k's row b starts at (k B + b) C.</param>
    /// <param name="weights">Fixed weights, [K], &gt;= 0 with a positive sum (normalised here); ignored (may be
    /// empty) with confidence weights.</param>
    /// <param name="labels">Labels, [B], each in [0, C), for confidence weights; ignored (may be empty) with fixed
    /// weights.</param>
    /// <param name="gradient">Output d loss / d z_s, [B*C].</param>
    /// <param name="rowLoss">Output per-row loss, [B]; the batch loss is their sum. NaN for a row holding a
    /// non-finite logit (any teacher's, even at weight 0) or an out-of-range label.</param>
    /// <param name="p">Launch scalars.</param>
    /// <exception cref="ArgumentException">When a length does not match B, C and K.</exception>
    public static unsafe void Run(ReadOnlySpan<float> student, ReadOnlySpan<float> teachers, ReadOnlySpan<float> weights,
        ReadOnlySpan<int> labels, Span<float> gradient, Span<float> rowLoss, in MultiTeacherParameters p)
    {
        if (p.Rows <= 0) throw new ArgumentOutOfRangeException(nameof(p), p.Rows, "rows (B) must be positive.");
        if (p.Classes <= 0) throw new ArgumentOutOfRangeException(nameof(p), p.Classes, "classes (C) must be positive.");
        if (p.Teachers <= 0) throw new ArgumentOutOfRangeException(nameof(p), p.Teachers, "teachers (K) must be positive.");
        long elements = (long)p.Rows * p.Classes;
        HostSimdRowLoss.RequireLength(student.Length, elements, nameof(student));
        HostSimdRowLoss.RequireLength(teachers.Length, elements * p.Teachers, nameof(teachers));
        HostSimdRowLoss.RequireLength(gradient.Length, elements, nameof(gradient));
        HostSimdRowLoss.RequireLength(rowLoss.Length, p.Rows, nameof(rowLoss));
        bool confidence = p.Confidence != 0;
        if (confidence) HostSimdRowLoss.RequireLength(labels.Length, p.Rows, nameof(labels));
        else HostSimdRowLoss.RequireLength(weights.Length, p.Teachers, nameof(weights));

        fixed (float* s = student)
        fixed (float* t = teachers)
        fixed (float* w = weights)
        fixed (int* l = labels)
        fixed (float* g = gradient)
        fixed (float* r = rowLoss)
        {
            var batch = new HostRowBatch(s, t, confidence ? l : null, g, r, p.Rows, p.Classes);
            HostRows.Run(batch, new HostMultiTeacher(p, confidence ? null : w));
        }
    }
}

/// <summary>
/// One row of the fused multi-teacher KD: q = sum_k w_k softmax(t_k / T), loss T^2/B KL(q || softmax(s / T)),
/// gradient T/B (p - q). The batch's teacher pointer is teacher 0; teacher k's row lies B*C floats further per k.
/// </summary>
/// <remarks>
/// <para>
/// Reads of a row: maxima and the finiteness check of every teacher and the student; with confidence weights, the
/// T = 1 sums of every teacher; then one read per teacher of positive weight and one of the student, each keeping
/// e = exp((z - max) / T) in the scratch row and folding the previous teacher's e, scaled by w_k / S_k (known once
/// its read is done), into the mixture q, which is built in the gradient row; the last read forms the loss and
/// overwrites q with the gradient. Each teacher's e is computed once, never as exp(v + log w_k - log S_k) per column.
/// </para>
/// <para>
/// The weights are normalised in double: confidence log weights (t_y - max_k) - log S1_k keep their accuracy for
/// logits of any size (t_y - max_k of two floats is exact in double, but for far smaller terms), where the kernel
/// needs a float pair. A mixture of one teacher of positive weight (K = 1, or the others weigh 0) is that teacher's
/// softmax, and the row is Hinton KD's soft term: <see cref="HostSoftmaxKL.Process"/>, the same bits as the host
/// single-teacher loss.
/// </para>
/// </remarks>
/// <param name="p">Launch scalars.</param>
/// <param name="weights">Fixed weights, [K], or null with confidence weights.</param>
internal readonly unsafe struct HostMultiTeacher(MultiTeacherParameters p, float* weights) : IHostRowLoss
{
    /// <summary>Teachers whose per-row maxima and weights live on the stack; more go to the heap.</summary>
    private const int StackTeachers = 64;

    /// <summary>The smallest normal float, 2^-126.</summary>
    private const float SmallestNormal = 1.17549435e-38f;

    private readonly MultiTeacherParameters p = p;
    private readonly float* weights = weights;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Row(in HostRowBatch batch, int row, float* scratch)
    {
        int classes = batch.Classes;
        long offset = (long)row * classes;
        float* gradient = batch.Gradient + offset;
        int label = p.Confidence != 0 ? batch.Labels[row] : 0;
        if (label < 0 || label >= classes)
        {
            // The bridge rejects such labels before calling; the backend still must not read out of bounds.
            HostRows.Clear(gradient, classes);
            batch.RowLoss[row] = float.NaN;
            return;
        }

        int count = p.Teachers;
        Span<double> statistics = count <= StackTeachers ? stackalloc double[2 * count] : new double[2 * count];
        Span<double> maxima = statistics[..count], weight = statistics[count..];
        float* student = batch.Student + offset;
        float* teacher0 = batch.Teacher + offset;
        long stride = (long)batch.Rows * classes;
        // One teacher needs no maxima here: its row is the single-teacher loss, which checks its own input.
        float maxS = 0f;
        if (count > 1 && !Measure(student, teacher0, stride, classes, maxima, out maxS))
        {
            batch.RowLoss[row] = float.NaN;
            return;
        }
        int single = Weigh(teacher0, stride, classes, label, maxima, weight);
        if (single < 0)
        {
            // No teacher of positive weight (weights that are all 0 or not finite): no mixture, as in the kernel.
            batch.RowLoss[row] = float.NaN;
            return;
        }
        if (single < count)
        {
            batch.RowLoss[row] = HostSoftmaxKL.Process(student, teacher0 + single * stride, gradient, scratch, classes,
                -1, p.InverseTemperature, p.LossScale, p.GradScale, 0f);
            return;
        }
        batch.RowLoss[row] = Mixture(student, teacher0, stride, gradient, scratch, classes, maxS, maxima, weight);
    }

    /// <summary>
    /// The row maxima of every teacher and the student, two rows per read (the student with teacher 0, then the
    /// teachers in pairs, an odd last one paired with itself), and whether every value of them is finite.
    /// </summary>
    private static bool Measure(float* student, float* teacher0, long stride, int classes, Span<double> maxima,
        out float maxS)
    {
        bool finite = HostRows.MaxPair(student, teacher0, classes, out maxS, out float max0);
        maxima[0] = max0;
        for (int k = 1; k < maxima.Length; k += 2)
        {
            int other = Math.Min(k + 1, maxima.Length - 1);
            finite &= HostRows.MaxPair(teacher0 + k * stride, teacher0 + other * stride, classes, out float a, out float b);
            maxima[k] = a;
            maxima[other] = b;
        }
        return finite;
    }

    /// <summary>
    /// Fills <paramref name="weight"/> with the row's normalised teacher weights. Returns the one teacher of positive
    /// weight when there is exactly one, K when there are several, -1 when there is none.
    /// </summary>
    private int Weigh(float* teacher0, long stride, int classes, int label, ReadOnlySpan<double> maxima, Span<double> weight)
    {
        int count = weight.Length;
        double total = 0;
        if (p.Confidence == 0)
        {
            for (int k = 0; k < count; k++)
            {
                // As the kernel: a weight that is not > 0 (0 or NaN) leaves its teacher out.
                float w = weights[k];
                weight[k] = w > 0f ? w : 0;
                total += weight[k];
            }
        }
        else if (count == 1)
        {
            // One teacher's normalised weight is 1 whatever its confidence: no T = 1 read.
            weight[0] = total = 1;
        }
        else
        {
            // log softmax(t_k)[y] at T = 1, each teacher's confidence in the right answer, then normalised against
            // the largest so that confidently wrong teachers (log weights of -1e4) neither underflow nor dominate.
            double best = double.NegativeInfinity;
            for (int k = 0; k < count; k++)
            {
                float* teacher = teacher0 + k * stride;
                float max = (float)maxima[k];
                double sum = Expand(teacher, max, 1f, null, null, classes, false, false, 0f);
                weight[k] = ((double)teacher[label] - max) - Math.Log(sum);
                best = Math.Max(best, weight[k]);
            }
            for (int k = 0; k < count; k++)
            {
                weight[k] = Math.Exp(weight[k] - best);
                total += weight[k];
            }
        }

        int found = -1;
        for (int k = 0; k < count; k++)
        {
            weight[k] /= total;
            if (weight[k] > 0) found = found < 0 ? k : count;
        }
        return found;
    }

    /// <summary>The general row: the mixture of several teachers, the loss, and the gradient.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private float Mixture(float* student, float* teacher0, long stride, float* gradient, float* scratch, int classes,
        float maxS, ReadOnlySpan<double> maxima, ReadOnlySpan<double> weight)
    {
        float invT = p.InverseTemperature;
        bool folding = false, started = false;
        float scale = 0f;
        for (int k = 0; k < weight.Length; k++)
        {
            if (!(weight[k] > 0)) continue; // adds exp(-inf) = 0 in the kernel
            double sum = Expand(teacher0 + k * stride, (float)maxima[k], invT, scratch, gradient, classes, folding,
                started, scale);
            started |= folding;
            folding = true;
            scale = (float)(weight[k] / sum);
        }
        // The student's read folds in the last teacher and keeps e_s.
        double sumS = Expand(student, maxS, invT, scratch, gradient, classes, true, started, scale);

        double divergence = HostRows.Sum(new DivergenceTerms(student, gradient, scratch, maxS, invT, sumS, p.GradScale),
            classes);
        return (float)(p.LossScale * divergence);
    }

    /// <summary>
    /// One read of a row of logits: returns S = sum e with e = exp((z - max) / T). With <paramref name="keep"/>, first
    /// folds the e it holds, times <paramref name="scale"/>, into <paramref name="mixture"/> (when
    /// <paramref name="fold"/>; added to it when <paramref name="started"/>, else written), then keeps this row's e.
    /// </summary>
    /// <param name="logits">The row.</param>
    /// <param name="max">Its max.</param>
    /// <param name="inverseTemperature">1/T (1 for the confidence weights' sums).</param>
    /// <param name="keep">C floats holding the previous row's e, overwritten with this row's; or null.</param>
    /// <param name="mixture">The mixture q being built, C floats.</param>
    /// <param name="count">C.</param>
    /// <param name="fold">Whether <paramref name="keep"/> holds a teacher's e to fold in.</param>
    /// <param name="started">Whether <paramref name="mixture"/> holds a sum already.</param>
    /// <param name="scale">w_k / S_k of the teacher whose e <paramref name="keep"/> holds.</param>
    /// <returns>S.</returns>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double Expand(float* logits, float max, float inverseTemperature, float* keep, float* mixture,
        int count, bool fold, bool started, float scale) =>
        HostRows.Sum(new ExpandTerms(logits, max, inverseTemperature, keep, mixture, fold, started, scale), count);

    /// <summary>The columns of <see cref="Expand"/>.</summary>
    private readonly struct ExpandTerms(float* logits, float max, float inverseTemperature, float* keep,
        float* mixture, bool fold, bool started, float scale) : IHostColumnTerm
    {
        private readonly Vector256<float> max = Vector256.Create(max), invT = Vector256.Create(inverseTemperature),
            scale = Vector256.Create(scale);

        /// <inheritdoc/>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector256<float> At(int c, int n)
        {
            // Padding lanes read the max: e = 1, finite, and dropped from the sum.
            Vector256<float> e = SimdMath.Exp((SimdMath.Load(logits + c, n, max.ToScalar()) - max) * invT);
            if (keep == null) return e;
            if (fold)
            {
                Vector256<float> previous = SimdMath.Load(keep + c, n, 0f);
                Vector256<float> q = started
                    ? Vector256.FusedMultiplyAdd(previous, scale, SimdMath.Load(mixture + c, n, 0f))
                    : previous * scale;
                SimdMath.Store(mixture + c, q, n);
            }
            SimdMath.Store(keep + c, e, n);
            return e;
        }
    }

    /// <summary>
    /// The last read of a row: per column q (log q - log p), with log p = (z_s - max_s) / T - log S_s, and the
    /// gradient T/B (p - q) written over q. 0 log 0 = 0; a q below float's normal range adds less than 1e-36 and is
    /// left out with it.
    /// </summary>
    private readonly struct DivergenceTerms(float* student, float* gradient, float* expStudent, float maxS,
        float inverseTemperature, double sumS, float gradScale) : IHostColumnTerm
    {
        private readonly Vector256<float> maxS = Vector256.Create(maxS), invT = Vector256.Create(inverseTemperature),
            logSumS = Vector256.Create((float)Math.Log(sumS)), inverseSumS = Vector256.Create((float)(1 / sumS)),
            gradScale = Vector256.Create(gradScale);

        /// <inheritdoc/>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector256<float> At(int c, int n)
        {
            Vector256<float> q = SimdMath.Load(gradient + c, n, 1f);
            Vector256<float> logP = (SimdMath.Load(student + c, n, maxS.ToScalar()) - maxS) * invT - logSumS;
            Vector256<float> term = q * (Vector256.Log(q) - logP);
            Vector256<float> pS = SimdMath.Load(expStudent + c, n, 0f) * inverseSumS;
            SimdMath.Store(gradient + c, gradScale * (pS - q), n);
            return Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(q, Vector256.Create(SmallestNormal)), term,
                Vector256<float>.Zero);
        }
    }
}
