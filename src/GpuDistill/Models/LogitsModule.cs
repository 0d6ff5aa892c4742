using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GpuDistill.Models;

/// <summary>The logits-only view returned by <see cref="DistillModel.AsLogitsModule"/>.</summary>
internal sealed class LogitsModule : Module<Tensor, Tensor>
{
    // Registered as a submodule so parameters(), train()/eval() and save/load reach the wrapped model.
    private readonly DistillModel model;

    public LogitsModule(DistillModel model)
        : base(model.Architecture + "-logits")
    {
        this.model = model;
        RegisterComponents();
    }

    public override Tensor forward(Tensor input) => model.ForwardLogits(input);
}
