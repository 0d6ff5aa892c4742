using System.Globalization;
using GpuDistill.Validation;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GpuDistill.Models;

/// <summary>
/// A small discriminator over class-score vectors, for discriminator-based distillation (Xu et al. 2018, loss-spec-2
/// 7.4): it reads a row of logits (or probabilities) [B, C] and returns one raw score per row [B], the logit of "this
/// row came from the teacher"; train it with binary cross-entropy on logits. An MLP: C -> hidden -> hidden -> 1 with
/// LeakyReLU(0.2) between the layers.
/// </summary>
/// <remarks>
/// The spec records no architecture from the paper (no reference code was found); two hidden layers of 64 is this
/// library's choice for 10 classes. A plain TorchSharp module (<see cref="Checkpoint"/> saves and loads it), weights
/// drawn from the seed only (<see cref="WeightInit"/>).
/// </remarks>
public sealed class LogitDiscriminator : Module<Tensor, Tensor>
{
    private readonly Sequential layers;

    /// <summary>Builds a discriminator initialised from <paramref name="seed"/>.</summary>
    /// <param name="seed">Seed of the weight initialisation.</param>
    /// <param name="classes">C, the length of the rows it reads (&gt; 0).</param>
    /// <param name="hidden">Width of the two hidden layers (&gt; 0).</param>
    public LogitDiscriminator(long seed, int classes = DistillModel.ClassCount, int hidden = 64)
        : base("LogitDiscriminator")
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(classes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(hidden);
        Classes = classes;
        Hidden = hidden;
        layers = Sequential(
            Linear(classes, hidden),
            LeakyReLU(0.2),
            Linear(hidden, hidden),
            LeakyReLU(0.2),
            Linear(hidden, 1));
        RegisterComponents();
        WeightInit.Apply(this, seed);
    }

    /// <summary>C, the length of the rows it reads.</summary>
    public int Classes { get; }

    /// <summary>Width of the hidden layers.</summary>
    public int Hidden { get; }

    /// <summary>A one-line description, e.g. for logs.</summary>
    public string Description => string.Create(CultureInfo.InvariantCulture,
        $"logit discriminator, MLP {Classes}-{Hidden}-{Hidden}-1, LeakyReLU 0.2");

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.IsInvalid) throw new ArgumentException("input has been disposed.", nameof(input));
        if (!input.is_floating_point() || input.dim() != 2 || input.shape[0] == 0 || input.shape[1] != Classes)
            throw new ArgumentException($"input must be class scores [B, {Classes}] (floating point, B > 0); got {input.dtype} {TensorChecks.Shape(input)}.", nameof(input));
        using var scope = NewDisposeScope();
        return layers.call(input).squeeze(1).MoveToOuterDisposeScope();
    }
}
