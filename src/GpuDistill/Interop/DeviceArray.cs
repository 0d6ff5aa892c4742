using System.Runtime.InteropServices;
using GpuDistill.Compute;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using static TorchSharp.torch;

namespace GpuDistill.Interop;

/// <summary>
/// A contiguous CPU tensor seen by an accelerator. On the CPU accelerator the view aliases the tensor's own memory
/// (no copy); on a GPU it is a device buffer filled from the tensor, and for outputs copied back by
/// <see cref="CopyToTensor"/>. The tensor must outlive this object.
/// </summary>
/// <typeparam name="T">Element type; it must match the tensor's dtype.</typeparam>
internal sealed class DeviceArray<T> : IDisposable where T : unmanaged
{
    private readonly Tensor tensor;
    private readonly MemoryBuffer buffer;
    private readonly bool aliasesTensor;

    private unsafe DeviceArray(ComputeDevice device, Tensor tensor, bool upload)
    {
        if (!tensor.is_contiguous())
            throw new ArgumentException("DeviceArray needs a contiguous tensor.", nameof(tensor));
        this.tensor = tensor;
        long length = tensor.numel();
        Span<byte> bytes = tensor.bytes;
        if (bytes.Length != length * sizeof(T))
            throw new ArgumentException($"Tensor of {tensor.dtype} does not hold {typeof(T).Name} elements.", nameof(tensor));

        if (device.SharesHostMemory)
        {
            // The tensor's storage is native memory that never moves, so its address stays valid while it lives.
            fixed (byte* data = bytes)
            {
                buffer = CPUMemoryBuffer.Create(device.Accelerator, (IntPtr)data, length, sizeof(T));
            }
            aliasesTensor = true;
        }
        else
        {
            MemoryBuffer1D<T, Stride1D.Dense> owned = device.Accelerator.Allocate1D<T>(length);
            if (upload)
                owned.View.CopyFromCPU(ref MemoryMarshal.GetReference(MemoryMarshal.Cast<byte, T>(bytes)), length);
            buffer = owned;
        }
        View = new ArrayView<T>(buffer, 0, length);
    }

    /// <summary>The accelerator's view of the tensor.</summary>
    public ArrayView<T> View { get; }

    /// <summary>A view of an input tensor (uploaded when the device does not share host memory).</summary>
    public static DeviceArray<T> ForInput(ComputeDevice device, Tensor tensor) => new(device, tensor, upload: true);

    /// <summary>A view of an output tensor (nothing uploaded; call <see cref="CopyToTensor"/> after the kernel).</summary>
    public static DeviceArray<T> ForOutput(ComputeDevice device, Tensor tensor) => new(device, tensor, upload: false);

    /// <summary>Brings the device's results into the tensor (a no-op when they share memory). Synchronises first.</summary>
    public void CopyToTensor()
    {
        if (aliasesTensor) return;
        Span<T> target = MemoryMarshal.Cast<byte, T>(tensor.bytes);
        View.CopyToCPU(ref MemoryMarshal.GetReference(target), View.Length);
    }

    /// <inheritdoc/>
    public void Dispose() => buffer.Dispose();
}
