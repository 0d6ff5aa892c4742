using System.Globalization;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GpuDistill.Models;

/// <summary>
/// The dense student: 784 -> hidden1 -> hidden2 -> 10 with ReLU, no batch norm and no dropout (so training and
/// evaluation modes compute the same thing). Default 784-64-64-10, about 55k parameters.
/// </summary>
/// <remarks>
/// Accepts images [B, 1, 28, 28], [B, 28, 28] or already flattened [B, 784]. Features: <c>hidden1</c> [B, hidden1]
/// and <c>hidden2</c> [B, hidden2], after ReLU. Pooled is <c>hidden2</c> (the same tensor).
/// </remarks>
public sealed class Mlp : DistillModel
{
    /// <summary>Factory name of this architecture.</summary>
    public const string ArchitectureName = "mlp";

    private static readonly string[] LayerNames = ["hidden1", "hidden2"];

    private readonly Linear fc1;
    private readonly Linear fc2;
    private readonly Linear head;

    /// <summary>Builds an MLP initialised from <paramref name="seed"/>.</summary>
    /// <param name="seed">Seed of the weight initialisation.</param>
    /// <param name="hidden1">Width of the first hidden layer (&gt; 0).</param>
    /// <param name="hidden2">Width of the second hidden layer (&gt; 0); also the embedding size.</param>
    /// <param name="architecture">Its factory name: <c>mlp</c>, or the student search's <c>mlp-H1-H2</c>.</param>
    public Mlp(long seed, int hidden1 = 64, int hidden2 = 64, string architecture = ArchitectureName)
        : base(architecture)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(hidden1);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(hidden2);
        fc1 = Linear(ImageChannels * ImageSize * ImageSize, hidden1);
        fc2 = Linear(hidden1, hidden2);
        head = Linear(hidden2, ClassCount);
        RegisterComponents();
        WeightInit.Apply(this, seed);
    }

    /// <inheritdoc/>
    public override string Description => string.Create(CultureInfo.InvariantCulture,
        $"MLP {fc1.in_features}-{fc1.out_features}-{fc2.out_features}-{head.out_features}, ReLU");

    /// <inheritdoc/>
    public override IReadOnlyList<string> FeatureNames => LayerNames;

    /// <inheritdoc/>
    /// <remarks>The linear layers: their outputs are the hidden features before the ReLU.</remarks>
    public override IReadOnlyList<string> FeatureLayers => ["fc1", "fc2"];

    /// <inheritdoc/>
    public override long EmbeddingSize => fc2.out_features;

    /// <inheritdoc/>
    public override ModelOutput forward(Tensor input)
    {
        using Tensor flat = ModelInputs.FlattenImages(input, nameof(input));
        // In place: a linear layer's backward needs its input and weight, not its output.
        Tensor h1 = fc1.call(flat).relu_();
        Tensor h2 = fc2.call(h1).relu_();
        Tensor logits = head.call(h2);
        return new ModelOutput(logits, h2, [new(LayerNames[0], h1), new(LayerNames[1], h2)]);
    }
}
