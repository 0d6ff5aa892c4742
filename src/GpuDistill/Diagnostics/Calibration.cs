using System.Runtime.InteropServices;
using GpuDistill.Data;
using GpuDistill.Models;
using GpuDistill.Validation;
using static TorchSharp.torch;

namespace GpuDistill.Diagnostics;

/// <summary>One confidence bin of a reliability diagram: the examples whose confidence c has Lower &lt; c &lt;= Upper.</summary>
/// <param name="Lower">The bin's lower edge (m - 1) / M, exclusive.</param>
/// <param name="Upper">The bin's upper edge m / M, inclusive.</param>
/// <param name="Count">Examples in the bin.</param>
/// <param name="Correct">Of those, the correctly classified.</param>
/// <param name="ConfidenceSum">The sum of their confidences.</param>
public sealed record ReliabilityBin(double Lower, double Upper, int Count, int Correct, double ConfidenceSum)
{
    /// <summary>acc(B_m), the bin's accuracy; NaN when it is empty.</summary>
    public double Accuracy => Count > 0 ? Correct / (double)Count : double.NaN;

    /// <summary>conf(B_m), the bin's mean confidence; NaN when it is empty.</summary>
    public double MeanConfidence => Count > 0 ? ConfidenceSum / Count : double.NaN;
}

/// <summary>A model's calibration on a dataset.</summary>
/// <param name="Examples">n.</param>
/// <param name="Accuracy">Top-1 accuracy, in [0, 1].</param>
/// <param name="MeanConfidence">The mean of the confidences max_k softmax(z)_k, in (0, 1].</param>
/// <param name="Ece">Expected calibration error over <see cref="Bins"/>, in [0, 1].</param>
/// <param name="Bins">The M equal-width bins over [0, 1], empty ones included.</param>
public sealed record CalibrationResult(int Examples, double Accuracy, double MeanConfidence, double Ece,
    IReadOnlyList<ReliabilityBin> Bins);

/// <summary>
/// Expected calibration error (Guo et al., ICML 2017; loss-spec-2 12.2): confidence c_i = max_k softmax(z_i)_k in M
/// equal-width bins B_m = {(m-1)/M &lt; c_i &lt;= m/M}, ECE = sum_m |B_m|/n |acc(B_m) - conf(B_m)|, empty bins 0.
/// Counts, correct counts and confidence sums are accumulated over the whole dataset and divided once.
/// </summary>
/// <remarks>M = 15 by default (gnosis's eval loop uses 10: state M when comparing).</remarks>
public static class Calibration
{
    /// <summary>The default number of bins, M = 15.</summary>
    public const int DefaultBins = 15;

    /// <summary>Calibration of predictions given as confidences and whether each was correct.</summary>
    /// <param name="confidences">c_i, each in (0, 1].</param>
    /// <param name="correct">r_i, one per confidence.</param>
    /// <param name="bins">M, at least 1.</param>
    /// <returns>The result.</returns>
    public static CalibrationResult FromConfidences(ReadOnlySpan<double> confidences, ReadOnlySpan<bool> correct,
        int bins = DefaultBins)
    {
        if (bins < 1) throw new ArgumentOutOfRangeException(nameof(bins), bins, "bins must be at least 1.");
        if (confidences.Length == 0) throw new ArgumentException("confidences must hold one value at least.", nameof(confidences));
        if (correct.Length != confidences.Length)
            throw new ArgumentException($"correct has {correct.Length} values; confidences has {confidences.Length}.", nameof(correct));

        var counts = new int[bins];
        var hits = new int[bins];
        var sums = new double[bins];
        double confidenceTotal = 0;
        int correctTotal = 0;
        for (int i = 0; i < confidences.Length; i++)
        {
            double c = confidences[i];
            if (!(c > 0 && c <= 1))
                throw new ArgumentOutOfRangeException(nameof(confidences), c, $"confidences[{i}] = {c}: every confidence must be in (0, 1].");
            int m = Bin(c, bins);
            counts[m]++;
            sums[m] += c;
            confidenceTotal += c;
            if (correct[i])
            {
                hits[m]++;
                correctTotal++;
            }
        }

        int n = confidences.Length;
        var result = new ReliabilityBin[bins];
        double ece = 0;
        for (int m = 0; m < bins; m++)
        {
            result[m] = new ReliabilityBin((double)m / bins, (double)(m + 1) / bins, counts[m], hits[m], sums[m]);
            // |B_m|/n |acc - conf| = |correct_m - confidence sum_m| / n.
            ece += Math.Abs(hits[m] - sums[m]);
        }
        return new CalibrationResult(n, correctTotal / (double)n, confidenceTotal / n, ece / n, result);
    }

    /// <summary>Calibration of logits against labels.</summary>
    /// <param name="logits">Logits [n, C], float32, CPU, finite.</param>
    /// <param name="labels">Class labels [n], int64 or int32, each in [0, C).</param>
    /// <param name="bins">M, at least 1.</param>
    /// <returns>The result.</returns>
    public static CalibrationResult FromLogits(Tensor logits, Tensor labels, int bins = DefaultBins)
    {
        (int rows, int classes) = TensorChecks.RequireLogits(logits, nameof(logits));
        TensorChecks.RequireFinite(logits, nameof(logits));
        using var scope = NewDisposeScope();
        Tensor checkedLabels = TensorChecks.RequireClassLabels(labels, nameof(labels), rows, classes);
        // Softmax in float64: a confidence that rounds to 1 in float32 could change bins at the top edge.
        (Tensor confidence, Tensor prediction) = logits.to_type(ScalarType.Float64).softmax(1).max(1);
        Tensor isCorrect = prediction.eq(checkedLabels.to_type(ScalarType.Int64)).contiguous();
        double[] c = confidence.contiguous().data<double>().ToArray();
        bool[] r = MemoryMarshal.Cast<byte, bool>(isCorrect.bytes).ToArray();
        return FromConfidences(c, r, bins);
    }

    /// <summary>Calibration of <paramref name="model"/> on <paramref name="data"/> (e.g. the test set).</summary>
    /// <param name="model">The model (run in evaluation mode; its mode is restored).</param>
    /// <param name="data">The labelled images.</param>
    /// <param name="bins">M, at least 1.</param>
    /// <param name="batchSize">Images per forward pass.</param>
    /// <returns>The result.</returns>
    public static CalibrationResult Measure(DistillModel model, ImageDataset data, int bins = DefaultBins, int batchSize = Training.Evaluation.InferenceBatchSize)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        using var scope = NewDisposeScope();
        Tensor logits = ModelPasses.Logits([model], data, batchSize)[0];
        return FromLogits(logits, ModelPasses.Labels(data), bins);
    }

    /// <summary>The 0-based bin m with m/M &lt; c &lt;= (m+1)/M, edges compared as the doubles m / M.</summary>
    private static int Bin(double confidence, int bins)
    {
        int m = Math.Clamp((int)Math.Ceiling(confidence * bins) - 1, 0, bins - 1);
        // c * M can round across an edge; settle it against the edges themselves.
        while (m > 0 && confidence <= (double)m / bins) m--;
        while (m < bins - 1 && confidence > (double)(m + 1) / bins) m++;
        return m;
    }
}
