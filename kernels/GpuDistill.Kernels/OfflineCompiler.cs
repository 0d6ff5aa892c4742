using ILGPU;
using ILGPU.Backends;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.OpenCL;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace GpuDistill.Kernels;

/// <summary>
/// Compiles kernels for GPU backends without a GPU: ILGPU's backends need only a context. This is how a machine
/// with no GPU proves that every kernel is accepted by the CUDA and OpenCL code generators, not just by the CPU
/// simulator.
/// </summary>
public sealed class OfflineCompiler : IDisposable
{
    private readonly Context context = Context.Create(builder => builder.EnableAlgorithms());

    /// <summary>Generates PTX for one kernel.</summary>
    /// <param name="kernel">The kernel.</param>
    /// <param name="architecture">Target, e.g. <see cref="CudaArchitecture.SM_90"/>.</param>
    /// <param name="instructionSet">PTX ISA version the target accepts.</param>
    /// <returns>The PTX text.</returns>
    public string CompilePtx(KernelEntry kernel, CudaArchitecture architecture, CudaInstructionSet instructionSet)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        using var backend = new PTXBackend(context, new CudaCapabilityContext(architecture), architecture, instructionSet, null);
        var compiled = (PTXCompiledKernel)backend.Compile(Describe(kernel), new KernelSpecialization());
        return compiled.PTXAssembly;
    }

    /// <summary>Generates OpenCL C 2.0 for one kernel (generic address space, as ILGPU's OpenCL backend needs).</summary>
    /// <param name="kernel">The kernel.</param>
    /// <returns>The OpenCL C source.</returns>
    public string CompileOpenCL(KernelEntry kernel)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        var capabilities = new CLCapabilityContext(float16: false, float64: false, genericAddressSpace: true,
            int64_Atomics: false, subGroups: false);
        using var backend = new CLBackend(context, capabilities, CLDeviceVendor.Other, CLCVersion.CL20);
        var compiled = (CLCompiledKernel)backend.Compile(Describe(kernel), new KernelSpecialization());
        return compiled.Source;
    }

    /// <inheritdoc/>
    public void Dispose() => context.Dispose();

    private static EntryPointDescription Describe(KernelEntry kernel) => kernel.ImplicitlyGrouped
        ? EntryPointDescription.FromImplicitlyGroupedKernel(kernel.Method)
        : EntryPointDescription.FromExplicitlyGroupedKernel(kernel.Method);
}
