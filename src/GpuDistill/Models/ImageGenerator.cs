using System.Globalization;
using GpuDistill.Data;
using GpuDistill.Interop;
using GpuDistill.Validation;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GpuDistill.Models;

/// <summary>
/// A small DCGAN-style generator of single-channel images for data-free and adversarial distillation, unconditional
/// or class-conditional, in DAFL's layout (loss-spec-2 7.1) scaled to 28x28: a linear layer from the latent code to
/// 128 maps of a quarter of the image size, batch norm, then twice (nearest 2x upsampling, 3x3 convolution, batch
/// norm with eps 0.8, LeakyReLU 0.2), a 3x3 convolution to the image channels and tanh, finished as
/// <see cref="GeneratorOutput"/> says. The two inner convolutions are <see cref="SameConv2d"/> without bias (the batch
/// norm after each removes any bias), which train 5x faster here than libtorch's native convolutions (batch 64,
/// width 128, forward and backward: 0.45 s against 2.5 s on the project's 2-core machine under load).
/// </summary>
/// <remarks>
/// <para>
/// Defaults from the references: a latent code of 100 (DAFL's MNIST setting, ZSKT's z_dim) drawn from N(0, I);
/// DAFL's inner batch norms take eps = 0.8 (its <c>BatchNorm2d(128, 0.8)</c> passes eps, not momentum). The
/// conditional generator appends the one-hot label to the latent code. Output [B, 1, 28, 28] in the value range of
/// the library's normalised Fashion-MNIST (<see cref="FashionMnist.Mean"/>, <see cref="FashionMnist.Std"/>) by default.
/// </para>
/// <para>
/// A plain TorchSharp module, not a <see cref="DistillModel"/> (that base is a classifier: logits, features and an
/// embedding from images); <see cref="Checkpoint"/> saves and loads any module, this one included. Weights are drawn
/// from the seed only (<see cref="WeightInit"/>). Call <see cref="Generate"/> (or <c>call</c>, which runs hooks).
/// </para>
/// </remarks>
public sealed class ImageGenerator : Module<Tensor, Tensor?, Tensor>
{
    /// <summary>DAFL's eps for the inner batch norms.</summary>
    public const double InnerBatchNormEpsilon = 0.8;

    /// <summary>DAFL's width: feature maps after the projection (the last hidden layer has half).</summary>
    public const int DefaultWidth = 128;

    private readonly int width;

    private readonly Linear project;
    private readonly BatchNormalization2d projectNorm;
    private readonly Sequential body;
    private readonly BatchNormalization2d? outputNorm;
    private readonly Scalar pixelScale;
    private readonly Scalar pixelShift;

    /// <summary>Builds a generator initialised from <paramref name="seed"/>.</summary>
    /// <param name="seed">Seed of the weight initialisation.</param>
    /// <param name="latentSize">Length of the latent code z (&gt; 0).</param>
    /// <param name="classes">Classes of a conditional generator, or 0 for an unconditional one.</param>
    /// <param name="output">How the images are finished.</param>
    /// <param name="imageSize">Height and width, a multiple of 4 (&gt;= 4).</param>
    /// <param name="channels">Image channels (&gt; 0).</param>
    /// <param name="pixelMean">Mean the data loader subtracts (pixels on the 0..1 scale), for <see cref="GeneratorOutput.Pixels"/>.</param>
    /// <param name="pixelStd">Std the data loader divides by (&gt; 0), for <see cref="GeneratorOutput.Pixels"/>.</param>
    /// <param name="width">Feature maps after the projection (&gt;= 2; DAFL's 128); smaller widths make a cheaper
    /// generator (its convolutions cost width squared).</param>
    public ImageGenerator(long seed, int latentSize = 100, int classes = 0, GeneratorOutput output = GeneratorOutput.Pixels,
        int imageSize = DistillModel.ImageSize, int channels = DistillModel.ImageChannels,
        float pixelMean = FashionMnist.Mean, float pixelStd = FashionMnist.Std, int width = DefaultWidth)
        : base("ImageGenerator")
    {
        Interop.TorchBackends.UseCorrectConvolutions();
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(latentSize);
        ArgumentOutOfRangeException.ThrowIfNegative(classes);
        TensorChecks.RequireDefined(output, nameof(output));
        if (imageSize < 4 || imageSize % 4 != 0)
            throw new ArgumentOutOfRangeException(nameof(imageSize), imageSize, "imageSize must be a multiple of 4 (two 2x upsamplings from a quarter size).");
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(channels);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 2);
        if (!float.IsFinite(pixelMean))
            throw new ArgumentOutOfRangeException(nameof(pixelMean), pixelMean, "pixelMean must be finite.");
        if (!(pixelStd > 0) || !float.IsFinite(pixelStd))
            throw new ArgumentOutOfRangeException(nameof(pixelStd), pixelStd, "pixelStd must be finite and > 0.");

        this.width = width;
        LatentSize = latentSize;
        Classes = classes;
        Output = output;
        ImageShape = [channels, imageSize, imageSize];
        int start = imageSize / 4;
        project = Linear(latentSize + classes, width * start * start);
        projectNorm = new BatchNormalization2d(width);
        body = Sequential(
            Upsample(scale_factor: [2.0, 2.0], mode: UpsampleMode.Nearest),
            new SameConv2d(width, width, (3, 3)),
            new BatchNormalization2d(width, eps: InnerBatchNormEpsilon),
            LeakyReLU(0.2),
            Upsample(scale_factor: [2.0, 2.0], mode: UpsampleMode.Nearest),
            new SameConv2d(width, width / 2, (3, 3)),
            new BatchNormalization2d(width / 2, eps: InnerBatchNormEpsilon),
            LeakyReLU(0.2),
            Conv2d(width / 2, channels, 3, padding: 1),
            Tanh());
        outputNorm = output == GeneratorOutput.BatchNormalized ? new BatchNormalization2d(channels, affine: false) : null;
        // tanh in [-1, 1] -> pixel (t + 1) / 2 -> (pixel - mean) / std = t * 0.5 / std + (0.5 - mean) / std.
        pixelScale = (0.5 / pixelStd).ToScalar();
        pixelShift = ((0.5 - pixelMean) / pixelStd).ToScalar();
        RegisterComponents();
        WeightInit.Apply(this, seed);
    }

    /// <summary>Draws every weight again from <paramref name="seed"/> and clears the batch-norm statistics, as a new
    /// generator of that seed would start (a data-free run's periodic reset, for images unlike the last ones).</summary>
    /// <param name="seed">Seed of the new weights.</param>
    public void Reinitialize(long seed) => WeightInit.Apply(this, seed);

    /// <summary>The weight seed of a run's generator: <paramref name="generation"/> 0 is the one it starts with, the
    /// k-th reset's is generation k (the run's seed alone would give the latent draws' stream).</summary>
    /// <param name="runSeed">The run's seed.</param>
    /// <param name="generation">0 for the first generator, k for the one after the k-th reset.</param>
    public static long WeightSeed(long runSeed, int generation = 0) => unchecked(runSeed * 7919L + 17 + generation * 1_000_033L);

    /// <summary>Length of the latent code z.</summary>
    public int LatentSize { get; }

    /// <summary>Classes a conditional generator takes labels from; 0 when unconditional.</summary>
    public int Classes { get; }

    /// <summary>Whether <see cref="Generate"/> needs labels.</summary>
    public bool IsConditional => Classes > 0;

    /// <summary>How the images are finished.</summary>
    public GeneratorOutput Output { get; }

    /// <summary>The shape of one image: [channels, height, width].</summary>
    public IReadOnlyList<long> ImageShape { get; }

    /// <summary>A one-line description, e.g. for logs.</summary>
    public string Description => string.Create(CultureInfo.InvariantCulture,
        $"DCGAN generator (width {width}), latent {LatentSize}{(IsConditional ? $" + one-hot of {Classes} classes" : "")} -> [{string.Join(", ", ImageShape)}], output {Output}");

    /// <summary>Draws latent codes from N(0, I).</summary>
    /// <param name="batch">B &gt; 0.</param>
    /// <param name="generator">Random source; the global one when null.</param>
    /// <returns>z [B, <see cref="LatentSize"/>], float32.</returns>
    public Tensor SampleLatent(int batch, Generator? generator = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batch);
        return randn([batch, LatentSize], generator: generator);
    }

    /// <summary>Generates images (runs hooks, like <c>call</c>).</summary>
    /// <param name="latent">z [B, <see cref="LatentSize"/>], float32.</param>
    /// <param name="labels">Class labels [B] (int64 or int32) in [0, <see cref="Classes"/>) for a conditional
    /// generator; null for an unconditional one.</param>
    /// <returns>Images [B, channels, height, width].</returns>
    public Tensor Generate(Tensor latent, Tensor? labels = null) => call(latent, labels);

    /// <summary>
    /// Throws when the images this generator makes do not fit a model that takes inputs of
    /// <paramref name="inputShape"/> (one input, without the batch dimension).
    /// </summary>
    /// <param name="inputShape">The shape the model takes, e.g. [1, 28, 28].</param>
    /// <param name="modelName">Names the model in the message.</param>
    /// <exception cref="ArgumentException">The shapes differ; the message gives both.</exception>
    public void RequireFits(IReadOnlyList<long> inputShape, string modelName = "the teacher")
    {
        ArgumentNullException.ThrowIfNull(inputShape);
        if (!inputShape.SequenceEqual(ImageShape))
        {
            throw new ArgumentException(
                $"The generator makes images [{string.Join(", ", ImageShape)}], but {modelName} takes [{string.Join(", ", inputShape)}]; build the generator with that image size and channel count.",
                nameof(inputShape));
        }
    }

    /// <summary>Throws when the images this generator makes do not fit <paramref name="model"/> ([1, 28, 28]).</summary>
    /// <param name="model">A classifier of the library (they take [B, 1, 28, 28]).</param>
    /// <exception cref="ArgumentException">The shapes differ; the message gives both.</exception>
    public void RequireFits(DistillModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        RequireFits([DistillModel.ImageChannels, DistillModel.ImageSize, DistillModel.ImageSize], $"model '{model.Architecture}'");
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor latent, Tensor? labels)
    {
        RequireLatent(latent, labels);
        using var scope = NewDisposeScope();
        Tensor input = IsConditional
            ? cat([latent, functional.one_hot(labels!.to_type(ScalarType.Int64), Classes).to_type(latent.dtype)], 1)
            : latent;
        int start = (int)ImageShape[1] / 4;
        Tensor maps = projectNorm.call(project.call(input).view(latent.shape[0], width, start, start));
        Tensor images = body.call(maps);
        images = outputNorm is not null ? outputNorm.call(images) : images.mul(pixelScale).add(pixelShift, Scalars.One);
        return images.MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            pixelScale.Dispose();
            pixelShift.Dispose();
        }
        base.Dispose(disposing);
    }

    private void RequireLatent(Tensor latent, Tensor? labels)
    {
        ArgumentNullException.ThrowIfNull(latent);
        if (latent.IsInvalid) throw new ArgumentException("latent has been disposed.", nameof(latent));
        if (!latent.is_floating_point() || latent.dim() != 2 || latent.shape[0] == 0 || latent.shape[1] != LatentSize)
            throw new ArgumentException($"latent must be a floating-point [B, {LatentSize}] with B > 0; got {latent.dtype} {TensorChecks.Shape(latent)}.", nameof(latent));
        if (!IsConditional)
        {
            if (labels is not null)
                throw new ArgumentException("This generator is unconditional; pass no labels (or build it with classes > 0).", nameof(labels));
            return;
        }
        if (labels is null)
            throw new ArgumentException($"This generator is conditional on {Classes} classes; pass labels [B].", nameof(labels));
        TensorChecks.RequireClassLabels(labels, nameof(labels), latent.shape[0], Classes).Dispose();
    }
}
