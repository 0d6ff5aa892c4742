using System.Collections.Concurrent;
using System.Globalization;
using GpuDistill.Kernels;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace GpuDistill.Compute;

/// <summary>
/// The one place that creates an ILGPU context and accelerator. It owns both, caches every kernel it has
/// compiled (once per accelerator), and disposes them together.
/// </summary>
public sealed class ComputeDevice : IDisposable
{
    private static readonly Lock DefaultLock = new();
    private static ComputeDevice? defaultDevice;

    private readonly ConcurrentDictionary<Type, Lazy<object>> kernelCache = new();
    private bool disposed;

    private ComputeDevice(Context context, Accelerator accelerator, AcceleratorKind kind, string reason)
    {
        Context = context;
        Accelerator = accelerator;
        Kind = kind;
        SelectionReason = reason;
    }

    /// <summary>The ILGPU context this device was created from.</summary>
    public Context Context { get; }

    /// <summary>The accelerator the kernels run on (ILGPU's CPU accelerator for <see cref="AcceleratorKind.Simd"/>).</summary>
    public Accelerator Accelerator { get; }

    /// <summary>
    /// The family of <see cref="Accelerator"/>, or <see cref="AcceleratorKind.Simd"/> (never
    /// <see cref="AcceleratorKind.Auto"/>).
    /// </summary>
    public AcceleratorKind Kind { get; }

    /// <summary>Why this accelerator was taken (for <c>auto</c>, which one and what else was present).</summary>
    public string SelectionReason { get; }

    /// <summary>Serialises launches: ILGPU runs one kernel at a time per CPU accelerator, and callers may share a device.</summary>
    public Lock LaunchLock { get; } = new();

    /// <summary>True when kernel buffers can alias host memory (no copy between tensors and the device).</summary>
    public bool SharesHostMemory => Kind is AcceleratorKind.Cpu or AcceleratorKind.Simd;

    /// <summary>True when the row losses run on the vectorised host backend instead of an ILGPU kernel.</summary>
    public bool UsesHostSimd => Kind == AcceleratorKind.Simd;

    /// <summary>
    /// The device the losses use when none is given. Created on first use from the environment variable
    /// <c>GPUDISTILL_ACCELERATOR</c> (cpu, simd, cuda, opencl or auto; auto when unset).
    /// </summary>
    public static ComputeDevice Default
    {
        get
        {
            lock (DefaultLock)
            {
                if (defaultDevice is null || defaultDevice.disposed)
                {
                    string? name = Environment.GetEnvironmentVariable("GPUDISTILL_ACCELERATOR");
                    defaultDevice = Open(string.IsNullOrWhiteSpace(name) ? "auto" : name);
                }
                return defaultDevice;
            }
        }
    }

    /// <summary>Replaces the default device; the previous one is disposed.</summary>
    /// <param name="device">The device to use from now on.</param>
    public static void SetDefault(ComputeDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        lock (DefaultLock)
        {
            if (!ReferenceEquals(defaultDevice, device)) defaultDevice?.Dispose();
            defaultDevice = device;
        }
    }

    /// <summary>Parses <c>cpu</c>, <c>simd</c>, <c>cuda</c>, <c>opencl</c> or <c>auto</c>, optionally with <c>:index</c>.</summary>
    /// <param name="name">The accelerator name, e.g. <c>cuda:1</c>.</param>
    /// <returns>The opened device.</returns>
    public static ComputeDevice Open(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        string[] parts = name.Trim().Split(':', 2);
        AcceleratorKind kind = parts[0].ToUpperInvariant() switch
        {
            "AUTO" => AcceleratorKind.Auto,
            "CPU" => AcceleratorKind.Cpu,
            "SIMD" => AcceleratorKind.Simd,
            "CUDA" => AcceleratorKind.Cuda,
            "OPENCL" or "CL" => AcceleratorKind.OpenCL,
            _ => throw new ArgumentException(
                $"Unknown accelerator '{name}': expected cpu, simd, cuda, opencl or auto (optionally with ':index').", nameof(name)),
        };
        int index = 0;
        if (parts.Length == 2 && !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out index))
            throw new ArgumentException($"Accelerator index in '{name}' must be a non-negative integer.", nameof(name));
        return Open(kind, index);
    }

    /// <summary>Opens the accelerator of the given kind; <see cref="AcceleratorKind.Auto"/> takes the best present.</summary>
    /// <param name="kind">Which family to open.</param>
    /// <param name="index">Which device of that family.</param>
    /// <returns>The opened device.</returns>
    /// <exception cref="ArgumentException">When no such device is present; the message lists what is.</exception>
    public static ComputeDevice Open(AcceleratorKind kind, int index = 0) => Open(kind, index, DefaultCpuShape);

    /// <summary>Opens the CPU accelerator with a given simulated shape (for measuring kernel layouts).</summary>
    /// <param name="threadsPerWarp">Simulated warp size (a power of two).</param>
    /// <param name="warpsPerMultiprocessor">Warps per simulated multiprocessor.</param>
    /// <param name="multiprocessors">Simulated multiprocessors (host threads).</param>
    /// <returns>The opened device.</returns>
    public static ComputeDevice OpenCpu(int threadsPerWarp, int warpsPerMultiprocessor, int multiprocessors) =>
        Open(AcceleratorKind.Cpu, 0, new CPUDevice(threadsPerWarp, warpsPerMultiprocessor, multiprocessors));

    private static ComputeDevice Open(AcceleratorKind kind, int index, CPUDevice cpuShape)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        Context context = CreateContext(cpuShape);
        try
        {
            List<Device> present = [.. context.Devices];
            string reason;
            if (kind == AcceleratorKind.Auto)
            {
                // Without a GPU the host SIMD backend: measured faster than ILGPU's CPU accelerator at every size of
                // the perf suite (docs/perf/summary.md), and the same CPU accelerator still runs every other kernel.
                kind = present.Any(d => d.AcceleratorType == AcceleratorType.Cuda) ? AcceleratorKind.Cuda
                    : present.Any(d => d.AcceleratorType == AcceleratorType.OpenCL) ? AcceleratorKind.OpenCL
                    : AcceleratorKind.Simd;
                reason = $"auto selected {kind} (present: {Describe(present)})";
            }
            else
            {
                reason = $"{kind} requested";
            }

            // The host backend runs every kernel it does not cover on the CPU accelerator.
            AcceleratorKind ilgpuKind = kind == AcceleratorKind.Simd ? AcceleratorKind.Cpu : kind;
            List<Device> ofKind = present.Where(d => KindOf(d.AcceleratorType) == ilgpuKind).ToList();
            if (index >= ofKind.Count)
            {
                throw new ArgumentException(
                    $"No {kind} accelerator with index {index} is present. Present: {Describe(present)}.", nameof(kind));
            }

            Device device = ofKind[index];
            Accelerator accelerator = device.CreateAccelerator(context);
            string where = kind == AcceleratorKind.Simd
                ? $"; row and multi-teacher losses on the host SIMD backend, other kernels on {device.Name}"
                : $"; using {device.Name}";
            return new ComputeDevice(context, accelerator, kind, reason + where);
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>Every device ILGPU can see on this machine.</summary>
    /// <returns>One entry per device.</returns>
    public static IReadOnlyList<DeviceInfo> ListDevices()
    {
        using Context context = CreateContext(DefaultCpuShape);
        var counters = new Dictionary<AcceleratorKind, int>();
        var result = new List<DeviceInfo>();
        foreach (Device d in context.Devices)
        {
            AcceleratorKind kind = KindOf(d.AcceleratorType);
            int i = counters.GetValueOrDefault(kind);
            counters[kind] = i + 1;
            result.Add(new DeviceInfo(kind, i, d.Name, d.MemorySize, d.WarpSize, d.MaxNumThreadsPerGroup));
        }
        return result;
    }

    /// <summary>
    /// The launcher of type <typeparamref name="T"/> on this device's accelerator, loaded on first use and kept for
    /// the device's lifetime (each kernel compiles on its first launch).
    /// </summary>
    /// <typeparam name="T">The launcher (e.g. <c>RowLossLauncher&lt;SoftmaxKLRow&gt;</c>).</typeparam>
    /// <returns>The cached launcher.</returns>
    public T Kernels<T>() where T : class, IKernelSet<T>
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        return (T)kernelCache.GetOrAdd(typeof(T), _ => new Lazy<object>(() => T.Load(Accelerator))).Value;
    }

    /// <inheritdoc/>
    public override string ToString() =>
        Kind == AcceleratorKind.Simd ? $"Simd: host SIMD row losses, {Accelerator.Name}" : $"{Kind}: {Accelerator.Name}";

    /// <inheritdoc/>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        kernelCache.Clear();
        Accelerator.Dispose();
        Context.Dispose();
    }

    /// <summary>
    /// The CPU accelerator's simulated shape: 4 threads per warp, one warp per multiprocessor, one multiprocessor
    /// per core. Measured with the fused KL kernel (perf --cpu-shapes, 2 cores): 4x faster than ILGPU's default
    /// 4x4 shape at 4096 x 1000, because fewer simulated threads means fewer host threads to schedule and
    /// synchronise. Only this one CPU device is registered, so <c>cpu</c> names one accelerator.
    /// </summary>
    private static CPUDevice DefaultCpuShape => new(4, 1, Environment.ProcessorCount);

    private static Context CreateContext(CPUDevice cpuShape)
    {
        // Driver-only machines have libcuda.so.1 but not libcuda.so, which ILGPU asks for.
        CudaDriverLocator.Register();
        return Context.Create(builder => builder.CPU(cpuShape).Cuda().OpenCL().EnableAlgorithms());
    }

    private static AcceleratorKind KindOf(AcceleratorType type) => type switch
    {
        AcceleratorType.Cuda => AcceleratorKind.Cuda,
        AcceleratorType.OpenCL => AcceleratorKind.OpenCL,
        _ => AcceleratorKind.Cpu,
    };

    private static string Describe(IEnumerable<Device> devices)
    {
        string list = string.Join(", ", devices.Select(d => $"{KindOf(d.AcceleratorType)} '{d.Name}'"));
        return list.Length == 0 ? "none" : list;
    }
}
