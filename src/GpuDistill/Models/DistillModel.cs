using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GpuDistill.Models;

/// <summary>
/// A classifier for 28x28 single-channel images (Fashion-MNIST) whose forward pass returns its logits together
/// with named intermediate features and the pooled embedding (<see cref="ModelOutput"/>), so any distillation
/// method, logit- or feature-based, can use any model without changing it.
/// </summary>
/// <remarks>
/// Create models with <see cref="ModelFactory.Create"/> (by name, seeded) or the concrete constructors.
/// Subclasses override <c>forward</c>; callers use <see cref="Forward"/> (or <c>call</c>, which is the same and runs
/// hooks) or <see cref="ForwardLogits"/>. Weights and buffers save and load with TorchSharp's <c>save</c>/<c>load</c>
/// or, crash-safely, with <see cref="Checkpoint"/>.
/// </remarks>
public abstract class DistillModel : Module<Tensor, ModelOutput>
{
    /// <summary>Height and width of an input image.</summary>
    public const int ImageSize = 28;

    /// <summary>Channels of an input image.</summary>
    public const int ImageChannels = 1;

    /// <summary>Number of classes the models predict.</summary>
    public const int ClassCount = 10;

    /// <summary>Names the model (its TorchSharp module name too).</summary>
    /// <param name="architecture">The factory name of the architecture, e.g. <c>"teacher-cnn"</c>.</param>
    protected DistillModel(string architecture)
        : base(architecture)
    {
        ArgumentException.ThrowIfNullOrEmpty(architecture);
        Interop.TorchBackends.UseCorrectConvolutions();
        Architecture = architecture;
    }

    /// <summary>The architecture's factory name, e.g. <c>"teacher-cnn"</c> (see <see cref="ModelFactory.Names"/>).</summary>
    public string Architecture { get; }

    /// <summary>A one-line human-readable description of the layers, e.g. widths and dropout.</summary>
    public abstract string Description { get; }

    /// <summary>The names of <see cref="ModelOutput.Features"/> this model produces, in order.</summary>
    public abstract IReadOnlyList<string> FeatureNames { get; }

    /// <summary>D, the width of <see cref="ModelOutput.Pooled"/>.</summary>
    public abstract long EmbeddingSize { get; }

    /// <summary>
    /// Module paths (for <see cref="Features.FeatureCapture"/>) of the layers behind <see cref="FeatureNames"/>, in network
    /// order: the default layers of feature-based methods.
    /// </summary>
    public virtual IReadOnlyList<string> FeatureLayers => FeatureNames;

    /// <summary>The shape of one input, without the batch dimension: [1, 28, 28] for the image models.</summary>
    public virtual IReadOnlyList<long> InputShape => [ImageChannels, ImageSize, ImageSize];

    /// <summary>The layer path of the embedding the classifier head reads (the head's input).</summary>
    public virtual string EmbeddingLayer => "head:in";

    /// <summary>Number of trainable and frozen parameters (buffers such as batch-norm running statistics excluded).</summary>
    public long ParameterCount => parameters().Sum(p => p.numel());

    /// <summary>Runs the model (with hooks, like <c>call</c>).</summary>
    /// <param name="input">Images [B, 1, 28, 28], float32.</param>
    /// <returns>Logits, features and pooled embedding; see <see cref="ModelOutput"/> for who frees them.</returns>
    public ModelOutput Forward(Tensor input) => call(input);

    /// <summary>Runs the model and keeps only the logits; the features are freed at once.</summary>
    /// <param name="input">Images [B, 1, 28, 28], float32.</param>
    /// <returns>Logits [B, 10], owned by the caller (or the current dispose scope).</returns>
    public Tensor ForwardLogits(Tensor input) => call(input).TakeLogits();

    /// <summary>
    /// A <c>Module&lt;Tensor, Tensor&gt;</c> view returning only the logits, for code written against plain classifiers.
    /// </summary>
    /// <remarks>
    /// The view registers this model as its submodule: it shares the parameters (an optimizer over the view's
    /// parameters trains this model), <c>train()</c>/<c>eval()</c> on it reach this model, its state-dict keys carry a
    /// <c>"model."</c> prefix, and disposing it disposes this model.
    /// </remarks>
    /// <returns>A new view over this model.</returns>
    public Module<Tensor, Tensor> AsLogitsModule() => new LogitsModule(this);

    /// <inheritdoc/>
    public override string ToString() => $"{Architecture}: {Description}; {ParameterCount:N0} parameters";
}
