using GpuDistill.Compute;

namespace GpuDistill.Diagnostics;

/// <summary>What <see cref="DistillationDiagnostics.Run"/> measures on, and where.</summary>
public sealed record DiagnosticsOptions
{
    /// <summary>Images per class of the CKA subset: 200, so 2,000 images of Fashion-MNIST's 10 classes.</summary>
    public const int DefaultCkaImagesPerClass = 200;

    /// <summary>The seed of the CKA subset's stratified draw: fixed, so every report measures the same images.</summary>
    public const int DefaultCkaSeed = 14;

    /// <summary>
    /// Test images per class the CKA subset draws (stratified, <see cref="CkaSeed"/>); fewer when a class of the test
    /// set has fewer (the embedded subset has 100 per class), which the report states.
    /// </summary>
    public int CkaImagesPerClass { get; init; } = DefaultCkaImagesPerClass;

    /// <summary>The seed of the CKA subset.</summary>
    public int CkaSeed { get; init; } = DefaultCkaSeed;

    /// <summary>M, the confidence bins of the ECE and the reliability diagram.</summary>
    public int CalibrationBins { get; init; } = Calibration.DefaultBins;

    /// <summary>Images per forward pass.</summary>
    public int BatchSize { get; init; } = Training.Evaluation.InferenceBatchSize;

    /// <summary>
    /// The accelerator CKA runs on; <see cref="ComputeDevice.Default"/> when null. On ILGPU's CPU accelerator
    /// (<c>cpu</c>) the fused kernel simulates the GPU's threads and takes minutes per layer pair at 2,000 images; the
    /// host device (<c>simd</c>, the default without a GPU) runs libtorch GEMMs instead.
    /// </summary>
    public ComputeDevice? Device { get; init; }
}
