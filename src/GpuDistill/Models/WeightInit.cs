using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GpuDistill.Models;

/// <summary>
/// Seeded weight initialisation. Every value is drawn from one <see cref="Generator"/> made from the seed, so a
/// model depends only on its seed and not on the global torch RNG (which other code, or other threads, may use).
/// Building a model still advances the global RNG, because TorchSharp's layer constructors draw default weights
/// before these replace them.
/// </summary>
internal static class WeightInit
{
    /// <summary>
    /// Convolutions: He-uniform (bound sqrt(6 / fan_in)), since each is followed by batch norm and ReLU.
    /// Linear layers: PyTorch's default, uniform in +-1/sqrt(fan_in) for weight and bias.
    /// Batch norm: weight 1, bias 0, running statistics reset.
    /// </summary>
    public static void Apply(Module model, long seed)
    {
        using var generator = new Generator(unchecked((ulong)seed));
        using var noGrad = no_grad();
        // named_modules() walks registration order, which is fixed per architecture, so the draws are reproducible.
        foreach ((string _, Module m) in model.named_modules())
        {
            switch (m)
            {
                case Conv2d conv:
                    long convFanIn = conv.weight!.shape[1] * conv.weight.shape[2] * conv.weight.shape[3];
                    Uniform(conv.weight, Math.Sqrt(6.0 / convFanIn), generator);
                    if (conv.bias is not null) Uniform(conv.bias, 1 / Math.Sqrt(convFanIn), generator);
                    break;
                case SameConv2d same:
                    long sameFanIn = same.weight.shape[1] * same.weight.shape[2] * same.weight.shape[3];
                    Uniform(same.weight, Math.Sqrt(6.0 / sameFanIn), generator);
                    break;
                case Linear linear:
                    double bound = 1 / Math.Sqrt(linear.in_features);
                    Uniform(linear.weight!, bound, generator);
                    if (linear.bias is not null) Uniform(linear.bias, bound, generator);
                    break;
                case BatchNormalization2d bn:
                    bn.ResetParameters();
                    break;
                default:
                    break;
            }
        }
    }

    // Tensor.uniform_, not nn.init.uniform_: in TorchSharp 0.107.0 the latter ignores its generator argument
    // and draws from the global RNG (seen: two generators with one seed gave different values).
    private static void Uniform(Tensor tensor, double bound, Generator generator) =>
        tensor.uniform_(-bound, bound, generator);
}
