namespace GpuDistill.Accelerators;

/// <summary>The accelerator families GpuDistill can run its kernels on.</summary>
public enum AcceleratorKind
{
    /// <summary>The best device present: CUDA, then OpenCL, then the CPU.</summary>
    Auto,

    /// <summary>ILGPU's CPU accelerator (always present).</summary>
    Cpu,

    /// <summary>An NVIDIA GPU through CUDA.</summary>
    Cuda,

    /// <summary>An OpenCL 2.0-capable device.</summary>
    OpenCL,
}
