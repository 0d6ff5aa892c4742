using GpuDistill.Kernels;
using ILGPU.Runtime.Cuda;

namespace GpuDistill.Tests.Kernels;

/// <summary>
/// Every kernel must compile for CUDA (Hopper and Volta) and OpenCL C here, with no GPU, so a kernel that only the
/// CPU simulator accepts fails CI instead of a user's GPU run.
/// </summary>
public sealed class GpuCompilationTests
{
    private OfflineCompiler compiler = null!;

    public static IEnumerable<TestCaseData> Kernels =>
        KernelCatalog.All.Select(k => new TestCaseData(k).SetArgDisplayNames(k.Name));

    [OneTimeSetUp] public void CreateCompiler() => compiler = new OfflineCompiler();

    [OneTimeTearDown] public void DisposeCompiler() => compiler.Dispose();

    [Test]
    public void CatalogFindsTheKernels() =>
        Assert.That(KernelCatalog.All.Select(k => k.Name), Does.Contain("RowLossKernels.RowPerThread<SoftmaxKLRow>").And.Contain("RowLossKernels.RowPerGroup<SoftmaxKLRow>"));

    [TestCaseSource(nameof(Kernels))]
    public void CompilesToPtxForSm90(KernelEntry kernel)
    {
        // ILGPU 1.5.3 emits ".target sm_80" for every architecture from sm_80 up (Hopper included); the driver
        // JIT-compiles that PTX for sm_90. What matters here is that code generation for the sm_90 request succeeds.
        string ptx = compiler.CompilePtx(kernel, CudaArchitecture.SM_90, CudaInstructionSet.ISA_88);
        Assert.That(ptx, Does.Contain(".version 8.8").And.Contain(".target sm_80").And.Contain(".entry"));
    }

    [TestCaseSource(nameof(Kernels))]
    public void CompilesToPtxForSm70(KernelEntry kernel)
    {
        string ptx = compiler.CompilePtx(kernel, CudaArchitecture.SM_70, CudaInstructionSet.ISA_60);
        Assert.That(ptx, Does.Contain(".target sm_70").And.Contain(".entry"));
    }

    [TestCaseSource(nameof(Kernels))]
    public void CompilesToOpenCLC(KernelEntry kernel)
    {
        string source = compiler.CompileOpenCL(kernel);
        Assert.That(source, Does.Contain("kernel void"));
    }
}
