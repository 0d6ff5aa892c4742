using GpuDistill.Validation;
using static TorchSharp.torch;

namespace GpuDistill.Diagnostics;

/// <summary>What a teacher's softened outputs hold at one temperature, averaged over a set of images.</summary>
/// <param name="Temperature">T, the softmax temperature.</param>
/// <param name="MeanEntropy">Mean entropy of softmax(z / T) in nats (at most ln C).</param>
/// <param name="NonTargetMass">Mean probability the soft target puts on classes other than the label: what it says beyond the hard label.</param>
public sealed record SoftTargetStatistics(double Temperature, double MeanEntropy, double NonTargetMass);

/// <summary>The teacher's soft targets on one set of images.</summary>
/// <param name="Set">Which images, e.g. "training (seen)" or "test".</param>
/// <param name="Examples">n, the images measured.</param>
/// <param name="Classes">C; the entropy is at most ln C.</param>
/// <param name="Accuracy">The teacher's top-1 accuracy on them.</param>
/// <param name="ByTemperature">The statistics at each temperature asked for.</param>
public sealed record TeacherKnowledgeResult(string Set, int Examples, int Classes, double Accuracy, IReadOnlyList<SoftTargetStatistics> ByTemperature);

/// <summary>
/// How much a teacher's softened outputs carry beyond the labels (the "dark knowledge" of Hinton et al. 2015): entropy and
/// non-target probability mass at several temperatures, in float64.
/// </summary>
/// <remarks>
/// KD trains the student on the training images, so what matters is the teacher's outputs there. A teacher that fits its
/// training set puts almost all its mass on the label there, even when it is unsure on images it has not seen; comparing
/// the training images with held-out ones shows how much of the teacher's knowledge a student trained on the same images
/// can receive.
/// </remarks>
public static class TeacherKnowledge
{
    /// <summary>The temperatures reported by default: the range KD's tuning grids cover.</summary>
    public static readonly IReadOnlyList<double> DefaultTemperatures = [1, 2, 4, 8];

    /// <summary>The statistics of <paramref name="logits"/> against <paramref name="labels"/> at each temperature.</summary>
    /// <param name="set">The name of the images' set, for the report.</param>
    /// <param name="logits">Teacher logits [n, C], float32, finite.</param>
    /// <param name="labels">Labels [n], int64, in [0, C).</param>
    /// <param name="temperatures">Each T &gt; 0 and finite; <see cref="DefaultTemperatures"/> when null.</param>
    /// <returns>The statistics.</returns>
    public static TeacherKnowledgeResult FromLogits(string set, Tensor logits, Tensor labels, IReadOnlyList<double>? temperatures = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(set);
        (int rows, int classes) = TensorChecks.RequireLogits(logits, nameof(logits));
        TensorChecks.RequireFinite(logits, nameof(logits));
        temperatures ??= DefaultTemperatures;
        if (temperatures.Count == 0) throw new ArgumentException("temperatures is empty: give at least one T.", nameof(temperatures));
        foreach (double t in temperatures) TensorChecks.RequireTemperature(t, nameof(temperatures));

        using var scope = NewDisposeScope();
        Tensor checkedLabels = TensorChecks.RequireClassLabels(labels, nameof(labels), rows, classes);
        Tensor z = logits.to_type(ScalarType.Float64);
        Tensor label = checkedLabels.to_type(ScalarType.Int64);
        Tensor target = label.unsqueeze(1);
        double accuracy = z.argmax(1).eq(label).sum().item<long>() / (double)rows;
        var statistics = new List<SoftTargetStatistics>(temperatures.Count);
        foreach (double t in temperatures)
        {
            Tensor logP = z.div(t).log_softmax(1);
            Tensor p = logP.exp();
            double entropy = -p.mul(logP).sum().item<double>() / rows;
            double targetMass = p.gather(1, target).sum().item<double>() / rows;
            statistics.Add(new SoftTargetStatistics(t, entropy, 1 - targetMass));
        }
        return new TeacherKnowledgeResult(set, rows, classes, accuracy, statistics);
    }
}
