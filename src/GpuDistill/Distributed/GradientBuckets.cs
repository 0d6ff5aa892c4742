using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill.Distributed;

/// <summary>
/// A learner's gradients laid out in a few flat float32 buffers ("buckets", in parameter order), each parameter's
/// gradient a view into one: the backward pass accumulates into the buckets and one allreduce per bucket sums them
/// over the processes in place, with no copy in or out.
/// </summary>
internal sealed class GradientBuckets : IDisposable
{
    /// <summary>Default bucket size: 4 MiB (one bucket for every model of the zoo but the teacher's two).</summary>
    public const long DefaultBucketBytes = 4L << 20;

    private readonly TorchSharp.Modules.Parameter[] parameters;
    private readonly Tensor[] buckets;
    private readonly Tensor[] views;

    /// <summary>Lays out the gradients of <paramref name="parameters"/>.</summary>
    /// <param name="parameters">The parameters the optimiser updates (float32, on the CPU).</param>
    /// <param name="bucketBytes">Most bytes per bucket; a larger parameter gets a bucket of its own.</param>
    public GradientBuckets(IReadOnlyList<TorchSharp.Modules.Parameter> parameters, long bucketBytes)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bucketBytes);
        this.parameters = [.. parameters];
        foreach (TorchSharp.Modules.Parameter p in this.parameters)
        {
            if (p.dtype != ScalarType.Float32 || p.device_type != DeviceType.CPU)
                throw new NotSupportedException($"Data-parallel training sums float32 gradients in host memory; a parameter is {p.dtype} on {p.device_type}.");
        }
        var layout = new List<List<int>>();
        long filled = 0;
        for (int i = 0; i < this.parameters.Length; i++)
        {
            long bytes = this.parameters[i].numel() * sizeof(float);
            if (layout.Count == 0 || filled + bytes > bucketBytes)
            {
                layout.Add([]);
                filled = 0;
            }
            layout[^1].Add(i);
            filled += bytes;
        }
        buckets = new Tensor[layout.Count];
        views = new Tensor[this.parameters.Length];
        for (int b = 0; b < layout.Count; b++)
        {
            buckets[b] = zeros(layout[b].Sum(i => this.parameters[i].numel()));
            long offset = 0;
            foreach (int i in layout[b])
            {
                long n = this.parameters[i].numel();
                using Tensor slice = buckets[b].narrow(0, offset, n);
                views[i] = slice.view(this.parameters[i].shape);
                offset += n;
            }
        }
    }

    /// <summary>The number of buckets, i.e. allreduce calls per step.</summary>
    public int Count => buckets.Length;

    /// <summary>Bytes of gradients summed per step.</summary>
    public long Bytes => buckets.Sum(b => b.numel()) * sizeof(float);

    /// <summary>Zeroes the buckets and makes them the parameters' gradients, before the backward pass.</summary>
    public void Attach()
    {
        using var noGrad = no_grad();
        foreach (Tensor bucket in buckets) bucket.zero_();
        for (int i = 0; i < parameters.Length; i++) parameters[i].grad = views[i];
    }

    /// <summary>Sums the gradients over the processes, in place, after the backward pass.</summary>
    /// <param name="group">The processes.</param>
    public void Sum(IProcessGroup group)
    {
        using (no_grad())
        {
            // The backward pass accumulates into an existing gradient in place; should a gradient have been replaced
            // instead, its values go back into the bucket so that nothing is left out of the sum.
            for (int i = 0; i < parameters.Length; i++)
            {
                using Tensor? grad = parameters[i].grad;
                if (grad is null || Address(grad) == Address(views[i])) continue;
                views[i].copy_(grad);
                parameters[i].grad = views[i];
            }
        }
        foreach (Tensor bucket in buckets) group.AllreduceSum(MemoryMarshal.Cast<byte, float>(bucket.bytes));
    }

    private static unsafe nint Address(Tensor tensor) => (nint)Unsafe.AsPointer(ref MemoryMarshal.GetReference(tensor.bytes));

    /// <summary>Releases the buckets (the parameters' gradients are cleared first).</summary>
    public void Dispose()
    {
        foreach (TorchSharp.Modules.Parameter p in parameters) p.grad = null;
        foreach (Tensor view in views) view.Dispose();
        foreach (Tensor bucket in buckets) bucket.Dispose();
    }
}
