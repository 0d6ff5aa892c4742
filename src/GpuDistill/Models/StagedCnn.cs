using System.Globalization;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GpuDistill.Models;

/// <summary>
/// The convolutional family: three stages of (3x3 conv, batch norm, ReLU) x2, the first two ending in a 2x2 max
/// pool, then global average pooling, dropout and a linear head. Teacher and student differ only in widths and
/// dropout, so their features align stage by stage.
/// </summary>
/// <remarks>
/// Features (after each stage): <c>stage1</c> [B, w1, 14, 14], <c>stage2</c> [B, w2, 7, 7], <c>stage3</c>
/// [B, w3, 7, 7]. Pooled: the spatial mean of stage3, [B, w3]. Stage3 keeps 7x7 because pooling again would drop
/// a row and column of the odd-sized map. Convolutions have no bias (batch norm's shift replaces it).
/// </remarks>
public abstract class StagedCnn : DistillModel
{
    private static readonly string[] StageNames = ["stage1", "stage2", "stage3"];

    private readonly Sequential stage1;
    private readonly Sequential stage2;
    private readonly Sequential stage3;
    private readonly Linear head;
    private readonly double dropout;

    /// <summary>Builds the layers and initialises them from <paramref name="seed"/>.</summary>
    /// <param name="architecture">Factory name of the concrete architecture.</param>
    /// <param name="width1">Channels of stage 1 (&gt; 0).</param>
    /// <param name="width2">Channels of stage 2 (&gt; 0).</param>
    /// <param name="width3">Channels of stage 3 (&gt; 0); also the embedding size.</param>
    /// <param name="dropout">Dropout probability before the head, in [0, 1).</param>
    /// <param name="seed">Seed of the weight initialisation.</param>
    protected StagedCnn(string architecture, int width1, int width2, int width3, double dropout, long seed)
        : this(architecture, [width1, width2, width3], [2, 2, 2], [3, 3, 3], dropout, seed)
    {
    }

    /// <summary>Builds a staged CNN of any per-stage widths, depths and kernel sizes (the student search's space).</summary>
    /// <param name="architecture">Factory name of the concrete architecture.</param>
    /// <param name="widths">Channels of stages 1, 2 and 3 (each &gt; 0); stage 3's is the embedding size.</param>
    /// <param name="depths">Convolutions (conv-BN-ReLU) per stage, each 1 or more.</param>
    /// <param name="kernels">Kernel size per stage, odd (padding k/2 keeps the spatial size).</param>
    /// <param name="dropout">Dropout probability before the head, in [0, 1).</param>
    /// <param name="seed">Seed of the weight initialisation.</param>
    /// <param name="separable">Per stage, whether its convolutions are depthwise-separable (MobileNet's block: a
    /// depthwise k x k conv-BN-ReLU, then a pointwise 1x1 conv-BN-ReLU); null for none. A separable stage's
    /// convolution from the one-channel image stays dense (a depthwise filter of one channel is a single filter).</param>
    protected StagedCnn(string architecture, IReadOnlyList<int> widths, IReadOnlyList<int> depths, IReadOnlyList<int> kernels,
        double dropout, long seed, IReadOnlyList<bool>? separable = null)
        : base(architecture)
    {
        ArgumentNullException.ThrowIfNull(widths);
        ArgumentNullException.ThrowIfNull(depths);
        ArgumentNullException.ThrowIfNull(kernels);
        if (widths.Count != 3 || depths.Count != 3 || kernels.Count != 3)
            throw new ArgumentException("A staged CNN has three stages: give three widths, depths and kernel sizes.", nameof(widths));
        foreach (int w in widths) ArgumentOutOfRangeException.ThrowIfNegativeOrZero(w, nameof(widths));
        foreach (int d in depths) ArgumentOutOfRangeException.ThrowIfNegativeOrZero(d, nameof(depths));
        if (kernels.Any(k => k < 1 || k % 2 == 0))
            throw new ArgumentOutOfRangeException(nameof(kernels), string.Join(",", kernels), "kernel sizes must be odd and positive.");
        if (!(dropout >= 0 && dropout < 1))
            throw new ArgumentOutOfRangeException(nameof(dropout), dropout, "dropout must be in [0, 1).");

        if (separable is not null && separable.Count != 3)
            throw new ArgumentException("A staged CNN has three stages: give three separable flags, or none.", nameof(separable));
        Widths = [.. widths];
        Depths = [.. depths];
        KernelSizes = [.. kernels];
        Separable = separable is null ? [false, false, false] : [.. separable];
        this.dropout = dropout;
        stage1 = Stage(ImageChannels, widths[0], depths[0], kernels[0], Separable[0], pool: true);
        stage2 = Stage(widths[0], widths[1], depths[1], kernels[1], Separable[1], pool: true);
        stage3 = Stage(widths[1], widths[2], depths[2], kernels[2], Separable[2], pool: false);
        head = Linear(widths[2], ClassCount);
        RegisterComponents();
        WeightInit.Apply(this, seed);
    }

    /// <summary>Convolutions per stage (2 each for the zoo's fixed models).</summary>
    public IReadOnlyList<int> Depths { get; }

    /// <summary>Kernel size per stage (3 each for the zoo's fixed models).</summary>
    public IReadOnlyList<int> KernelSizes { get; }

    /// <summary>Per stage, whether its convolutions are depthwise-separable.</summary>
    public IReadOnlyList<bool> Separable { get; }

    /// <summary>Channels of stage 1, 2 and 3.</summary>
    public IReadOnlyList<int> Widths { get; }

    /// <summary>Dropout probability applied to the pooled embedding before the head, in training mode only.</summary>
    public double DropoutProbability => dropout;

    /// <inheritdoc/>
    public override string Description => Depths.All(d => d == 2) && KernelSizes.All(k => k == 3) && !Separable.Any(x => x)
        ? string.Create(CultureInfo.InvariantCulture,
            $"3 stages of (conv3x3-BN-ReLU)x2, widths {Widths[0]}/{Widths[1]}/{Widths[2]}, maxpool after stages 1-2, global average pool, dropout {dropout}, linear {Widths[2]}->{ClassCount}")
        : string.Create(CultureInfo.InvariantCulture,
            $"3 stages of conv-BN-ReLU, widths {Widths[0]}/{Widths[1]}/{Widths[2]}, depths {Depths[0]}/{Depths[1]}/{Depths[2]}, kernels {KernelSizes[0]}/{KernelSizes[1]}/{KernelSizes[2]}{SeparableStages}, maxpool after stages 1-2, global average pool, dropout {dropout}, linear {Widths[2]}->{ClassCount}");

    /// <inheritdoc/>
    public override IReadOnlyList<string> FeatureNames => StageNames;

    /// <inheritdoc/>
    public override long EmbeddingSize => Widths[2];

    /// <inheritdoc/>
    public override ModelOutput forward(Tensor input)
    {
        ModelInputs.RequireImages(input, nameof(input));
        Tensor s1 = stage1.call(input);
        Tensor s2 = stage2.call(s1);
        Tensor s3 = stage3.call(s2);
        Tensor pooled = s3.mean([2, 3]);
        Tensor dropped = training && dropout > 0 ? functional.dropout(pooled, dropout, training: true) : pooled;
        Tensor logits = head.call(dropped);
        if (!ReferenceEquals(dropped, pooled)) dropped.Dispose();
        return new ModelOutput(logits, pooled,
            [new(StageNames[0], s1), new(StageNames[1], s2), new(StageNames[2], s3)]);
    }

    private string SeparableStages => Separable.Any(x => x)
        ? $", depthwise-separable stage{(Separable.Count(x => x) > 1 ? "s" : "")} {string.Join('/', Enumerable.Range(1, 3).Where(i => Separable[i - 1]))}"
        : "";

    private static Sequential Stage(int inChannels, int width, int depth, int kernel, bool separable, bool pool)
    {
        var layers = new List<Module<Tensor, Tensor>>();
        void ConvolutionBlock(SameConv2d convolution)
        {
            layers.Add(convolution);
            layers.Add(new BatchNormalization2d(convolution.OutChannels));
            // In place: batch norm's backward needs its input, not its output, so overwriting the output is safe.
            layers.Add(ReLU(inplace: true));
        }
        for (int i = 0; i < depth; i++)
        {
            int channels = i == 0 ? inChannels : width;
            if (separable && channels > 1)
            {
                ConvolutionBlock(new SameConv2d(channels, channels, (kernel, kernel), groups: channels));
                ConvolutionBlock(new SameConv2d(channels, width, (1, 1)));
            }
            else
            {
                ConvolutionBlock(new SameConv2d(channels, width, (kernel, kernel)));
            }
        }
        if (pool) layers.Add(MaxPool2d(2));
        return Sequential(layers);
    }
}
