using GpuDistill.Validation;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill;

public static partial class Losses
{
    /// <summary>
    /// DAFL's one-hot loss (loss-spec-2 7.1): the cross-entropy of the teacher's logits on generated images against
    /// their own argmax (first index on ties), averaged over the batch; the pseudo-labels carry no gradient.
    /// </summary>
    /// <param name="teacherLogits">Teacher logits [B, C] on generated images, float32, any device.</param>
    /// <returns>A scalar float32 tensor.</returns>
    public static Tensor DaflOneHot(Tensor teacherLogits)
    {
        TensorChecks.RequireFeatures(teacherLogits, nameof(teacherLogits), 2);
        using var scope = NewDisposeScope();
        Tensor pseudoLabels = teacherLogits.detach().argmax(1);
        return nn.functional.cross_entropy(teacherLogits, pseudoLabels).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// DAFL's activation loss: minus the mean absolute value of the teacher's features (the pooled penultimate vector
    /// [B, D]), -(1/(B D)) sum |f| as its code takes it (the paper divides by B only). Rewards images that excite the
    /// teacher.
    /// </summary>
    /// <param name="features">Teacher features [B, ...], float32, any device.</param>
    /// <returns>A scalar float32 tensor.</returns>
    public static Tensor DaflActivation(Tensor features)
    {
        TensorChecks.RequireFeatures(features, nameof(features), null, minRank: 2);
        using var scope = NewDisposeScope();
        return features.abs().mean().neg().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// DAFL's information-entropy (class-balance) loss: sum_c pbar_c log10(pbar_c) with pbar the batch mean of
    /// softmax(teacher logits), i.e. minus the entropy of the mean prediction in base 10, as its code takes it.
    /// Minimising it spreads the batch over all classes. pbar is floored at 1e-12 (log10 0 would give 0 * -inf).
    /// </summary>
    /// <param name="teacherLogits">Teacher logits [B, C] on generated images, float32, any device.</param>
    /// <returns>A scalar float32 tensor.</returns>
    public static Tensor DaflInformationEntropy(Tensor teacherLogits)
    {
        TensorChecks.RequireFeatures(teacherLogits, nameof(teacherLogits), 2);
        using var scope = NewDisposeScope();
        using Scalar floor = 1e-12.ToScalar();
        Tensor mean = nn.functional.softmax(teacherLogits, 1).mean([0]);
        return (mean * mean.clamp_min(floor).log10()).sum().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// DAFL's generator loss, oneHot L_oh + informationEntropy L_ie + activation L_a, on the teacher's logits and
    /// features for one generated batch; the defaults are the reference's MNIST weights (its argparse defaults; its
    /// CIFAR-10 command line uses 0.05, 5 and 0.01).
    /// </summary>
    /// <param name="teacherLogits">Teacher logits [B, C] on generated images.</param>
    /// <param name="features">Teacher features [B, ...] (the pooled penultimate vector).</param>
    /// <param name="oneHot">Weight of <see cref="DaflOneHot"/> (&gt;= 0).</param>
    /// <param name="informationEntropy">Weight of <see cref="DaflInformationEntropy"/> (&gt;= 0).</param>
    /// <param name="activation">Weight of <see cref="DaflActivation"/> (&gt;= 0).</param>
    /// <returns>A scalar float32 tensor.</returns>
    public static Tensor DaflGenerator(Tensor teacherLogits, Tensor features, double oneHot = 1.0,
        double informationEntropy = 5.0, double activation = 0.1)
    {
        TensorChecks.RequireWeight(oneHot, nameof(oneHot));
        TensorChecks.RequireWeight(informationEntropy, nameof(informationEntropy));
        TensorChecks.RequireWeight(activation, nameof(activation));
        TensorChecks.RequireFeatures(teacherLogits, nameof(teacherLogits), 2);
        TensorChecks.RequireFeatures(features, nameof(features), null, minRank: 2);
        if (features.shape[0] != teacherLogits.shape[0])
            throw new ArgumentException($"features must have the batch size of teacherLogits; got shape {TensorChecks.Shape(features)}.", nameof(features));
        using var scope = NewDisposeScope();
        using Scalar a = oneHot.ToScalar(), b = informationEntropy.ToScalar(), c = activation.ToScalar();
        return DaflOneHot(teacherLogits).mul(a)
            .add(DaflInformationEntropy(teacherLogits), b)
            .add(DaflActivation(features), c)
            .MoveToOuterDisposeScope();
    }
}
