using System.Globalization;
using static TorchSharp.torch.nn;

namespace GpuDistill.Features;

/// <summary>
/// Learned adapters held together under the names "0", "1", ... so that <c>parameters()</c>, <c>train()</c> and
/// checkpoints see all of them (a stand-alone TorchSharp ModuleList registers nothing until a parent registers it).
/// </summary>
public sealed class AdapterList : Module
{
    /// <summary>Registers <paramref name="adapters"/> in order.</summary>
    /// <param name="adapters">The adapters.</param>
    public AdapterList(IEnumerable<Module> adapters)
        : base(nameof(AdapterList))
    {
        ArgumentNullException.ThrowIfNull(adapters);
        int index = 0;
        foreach (Module adapter in adapters)
            register_module((index++).ToString(CultureInfo.InvariantCulture), adapter);
        Count = index;
    }

    /// <summary>How many adapters there are.</summary>
    public int Count { get; }
}
