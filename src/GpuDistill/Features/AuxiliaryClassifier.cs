using GpuDistill.Models;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GpuDistill.Features;

/// <summary>
/// A shallow exit of a network (Be Your Own Teacher, Zhang et al. 2019): a bottleneck that turns a shallow stage's
/// map [B, Cs, Hs, Ws] into the deepest stage's shape [B, Cd, Hd, Wd] (1x1 conv to Cd/2, 3x3 conv with the stride
/// that halves the map while it is twice as large, 1x1 conv to Cd, each with batch norm and ReLU), then global
/// average pooling and a linear classifier. The bottleneck's output is the feature the hint loss compares with the
/// deepest stage's.
/// </summary>
public sealed class AuxiliaryClassifier : Module<Tensor, (Tensor Feature, Tensor Logits)>
{
    private readonly Sequential bottleneck;
    private readonly Module<Tensor, Tensor> classifier;

    /// <summary>Builds the exit for one shallow stage.</summary>
    /// <param name="shallow">The shallow stage's shape [Cs, Hs, Ws].</param>
    /// <param name="deepest">The deepest stage's shape [Cd, Hd, Wd].</param>
    /// <param name="classes">Number of classes.</param>
    public AuxiliaryClassifier(long[] shallow, long[] deepest, long classes)
        : base(nameof(AuxiliaryClassifier))
    {
        ArgumentNullException.ThrowIfNull(shallow);
        ArgumentNullException.ThrowIfNull(deepest);
        if (shallow.Length != 3 || deepest.Length != 3)
            throw new ArgumentException($"An auxiliary classifier needs feature maps [B, C, H, W]; got [B, {string.Join(", ", shallow)}] and [B, {string.Join(", ", deepest)}].", nameof(shallow));
        (long cs, long hs) = (shallow[0], shallow[1]);
        (long cd, long hd) = (deepest[0], deepest[1]);
        long middle = Math.Max(1, cd / 2);
        var layers = new List<Module<Tensor, Tensor>> { Conv2d(cs, middle, 1, bias: false), new BatchNormalization2d(middle), ReLU() };
        // Halve the map with stride-2 convolutions until it has the deepest stage's size.
        for (long h = hs; h > hd; h = (h + 1) / 2)
        {
            layers.Add(Conv2d(middle, middle, 3, stride: 2, padding: 1, bias: false));
            layers.Add(new BatchNormalization2d(middle));
            layers.Add(ReLU());
        }
        layers.AddRange([Conv2d(middle, cd, 1, bias: false), new BatchNormalization2d(cd), ReLU()]);
        bottleneck = Sequential(layers);
        classifier = Linear(cd, classes);
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override (Tensor Feature, Tensor Logits) forward(Tensor input)
    {
        Tensor feature = bottleneck.call(input);
        return (feature, classifier.call(feature.mean([2, 3])));
    }
}
