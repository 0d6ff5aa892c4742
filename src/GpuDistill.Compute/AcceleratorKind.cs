namespace GpuDistill.Compute;

/// <summary>The accelerator families GpuDistill can run its kernels on.</summary>
public enum AcceleratorKind
{
    /// <summary>The best device present: CUDA, then OpenCL, then the vectorised host backend (<see cref="Simd"/>).</summary>
    Auto,

    /// <summary>ILGPU's CPU accelerator (always present).</summary>
    Cpu,

    /// <summary>An NVIDIA GPU through CUDA.</summary>
    Cuda,

    /// <summary>An OpenCL 2.0-capable device.</summary>
    OpenCL,

    /// <summary>
    /// The vectorised host backend (<see cref="HostSimd.HostSimdRowLoss"/>, <see cref="HostSimd.HostSimdMultiTeacher"/>):
    /// the row losses and multi-teacher KD run as SIMD C# on the host threads, straight on the tensors' memory; every
    /// other kernel runs on ILGPU's CPU accelerator. Always present.
    /// </summary>
    Simd,
}
