using GpuDistill.Interop;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill.Training;

/// <summary>
/// SGD with (Nesterov) momentum and L2 weight decay, as torch.optim.SGD computes it, with its state saved and loaded
/// by the trainer's checkpoints.
/// </summary>
/// <remarks>
/// Written here rather than using TorchSharp's SGD because that one passes short-lived implicit Scalars to native
/// code, which the garbage collector may free during the call (see <see cref="Scalars"/>). Every Scalar here is
/// explicit and stays alive until the step is done.
/// </remarks>
public sealed class NesterovSgd
{
    private readonly TorchSharp.Modules.Parameter[] parameters;
    private readonly Tensor?[] buffers;
    private readonly double momentum;
    private readonly double weightDecay;

    /// <summary>Creates the optimiser.</summary>
    /// <param name="parameters">The parameters to update.</param>
    /// <param name="learningRate">Initial learning rate.</param>
    /// <param name="momentum">Momentum in [0, 1); Nesterov when &gt; 0.</param>
    /// <param name="weightDecay">L2 weight decay added to the gradient.</param>
    public NesterovSgd(IEnumerable<TorchSharp.Modules.Parameter> parameters, double learningRate, double momentum, double weightDecay)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        this.parameters = parameters.Where(p => p.requires_grad).ToArray();
        buffers = new Tensor?[this.parameters.Length];
        LearningRate = learningRate;
        this.momentum = momentum;
        this.weightDecay = weightDecay;
    }

    /// <summary>The learning rate of the next step.</summary>
    public double LearningRate { get; set; }

    /// <summary>Clears every parameter's gradient.</summary>
    public void ZeroGrad()
    {
        foreach (TorchSharp.Modules.Parameter p in parameters) p.grad = null;
    }

    /// <summary>One update: d = g + wd p; b = m b + d; p -= lr (d + m b) (Nesterov) or lr b.</summary>
    public void Step()
    {
        using var noGrad = no_grad();
        using Scalar decay = weightDecay.ToScalar();
        using Scalar mom = momentum.ToScalar();
        using Scalar step = (-LearningRate).ToScalar();
        for (int i = 0; i < parameters.Length; i++)
        {
            TorchSharp.Modules.Parameter p = parameters[i];
            // Held by a using variable so the wrapper stays alive (and its native handle valid) through every call below.
            using Tensor? grad = p.grad;
            if (grad is null) continue;
            using var scope = NewDisposeScope();
            Tensor d = weightDecay != 0 ? grad.add(p, alpha: decay) : grad;
            if (momentum != 0)
            {
                if (buffers[i] is null)
                {
                    buffers[i] = d.clone().DetachFromDisposeScope();
                }
                else
                {
                    buffers[i]!.mul_(mom).add_(d, alpha: Scalars.One);
                }
                d = d.add(buffers[i]!, alpha: mom);
            }
            p.add_(d, alpha: step);
        }
    }

    /// <summary>Writes the momentum buffers.</summary>
    public void Save(BinaryWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.Write(buffers.Length);
        foreach (Tensor? b in buffers)
        {
            writer.Write(b is not null);
            b?.Save(writer);
        }
    }

    /// <summary>Reads momentum buffers written by <see cref="Save"/> for the same parameters.</summary>
    public void Load(BinaryReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        int count = reader.ReadInt32();
        if (count != buffers.Length)
            throw new InvalidDataException($"Optimiser state holds {count} buffers; this model has {buffers.Length} parameters.");
        for (int i = 0; i < count; i++)
        {
            if (!reader.ReadBoolean())
            {
                buffers[i] = null;
                continue;
            }
            buffers[i] ??= zeros_like(parameters[i]).DetachFromDisposeScope();
            buffers[i]!.Load(reader);
        }
    }
}
