using System.Globalization;
using GpuDistill.Validation;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GpuDistill.Models;

/// <summary>
/// The student of the cross-modal scheme: it reads a sinogram [B, 1, A, bins] (Radon projections at A angles, see
/// <see cref="Methods.RadonModality"/>), not an image. Two 1-D convolutions along the detector axis of each angle (1x5,
/// batch norm, ReLU; the second with stride 2), a convolution across all angles at each detector position (A x 1),
/// then a dense embedding of 128 and the linear head.
/// </summary>
/// <remarks>
/// Features: <c>detector</c> [B, 32, A, bins/2] (per-angle detector features), <c>angles</c> [B, 64, 1, bins/2]
/// (angles combined), <c>embedding</c> [B, 128] (after ReLU; also the pooled output, the head's input).
/// </remarks>
public sealed class RadonCnn : DistillModel
{
    /// <summary>Factory name of this architecture.</summary>
    public const string ArchitectureName = "radon-cnn";

    private static readonly string[] LayerNames = ["detector", "angles", "embedding"];

    private readonly Sequential detector;
    private readonly Sequential angles;
    private readonly Linear embedding;
    private readonly Linear head;

    /// <summary>Builds the network for <paramref name="angleCount"/> x <paramref name="bins"/> sinograms.</summary>
    /// <param name="seed">Seed of the weight initialisation.</param>
    /// <param name="angleCount">Projection angles A (the input's height), 1 or more.</param>
    /// <param name="bins">Detector bins (the input's width), 2 or more.</param>
    public RadonCnn(long seed, int angleCount, int bins)
        : base(ArchitectureName)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(angleCount);
        ArgumentOutOfRangeException.ThrowIfLessThan(bins, 2);
        AngleCount = angleCount;
        Bins = bins;
        detector = Sequential(
            Conv2d(1, 32, (1, 5), padding: (0, 2), bias: false), new BatchNormalization2d(32), ReLU(inplace: true),
            Conv2d(32, 32, (1, 5), stride: (1, 2), padding: (0, 2), bias: false), new BatchNormalization2d(32), ReLU(inplace: true));
        long half = (bins + 1) / 2;
        angles = Sequential(Conv2d(32, 64, (angleCount, 1), bias: false), new BatchNormalization2d(64), ReLU(inplace: true));
        embedding = Linear(64 * half, 128);
        head = Linear(128, ClassCount);
        RegisterComponents();
        WeightInit.Apply(this, seed);
    }

    /// <summary>Projection angles A the input must have.</summary>
    public int AngleCount { get; }

    /// <summary>Detector bins the input must have.</summary>
    public int Bins { get; }

    /// <inheritdoc/>
    public override string Description => string.Create(CultureInfo.InvariantCulture,
        $"sinogram {AngleCount}x{Bins}: (conv1x5-BN-ReLU) 32, (conv1x5/2-BN-ReLU) 32, (conv{AngleCount}x1-BN-ReLU) 64, linear {64 * ((Bins + 1) / 2)}->128, ReLU, linear 128->{ClassCount}");

    /// <inheritdoc/>
    public override IReadOnlyList<long> InputShape => [1, AngleCount, Bins];

    /// <inheritdoc/>
    public override IReadOnlyList<string> FeatureNames => LayerNames;

    /// <inheritdoc/>
    public override long EmbeddingSize => 128;

    /// <inheritdoc/>
    public override ModelOutput forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.IsInvalid || !input.is_floating_point() || input.dim() != 4 || input.shape[0] == 0 || input.shape[1] != 1
            || input.shape[2] != AngleCount || input.shape[3] != Bins)
        {
            throw new ArgumentException(
                $"input must be float sinograms [B, 1, {AngleCount}, {Bins}] with B > 0 (this radon-cnn's angles and bins); got {TensorChecks.Shape(input)}.", nameof(input));
        }
        Tensor d = detector.call(input);
        Tensor a = angles.call(d);
        Tensor e = embedding.call(a.flatten(1)).relu_();
        Tensor logits = head.call(e);
        return new ModelOutput(logits, e, [new(LayerNames[0], d), new(LayerNames[1], a), new(LayerNames[2], e)]);
    }
}
