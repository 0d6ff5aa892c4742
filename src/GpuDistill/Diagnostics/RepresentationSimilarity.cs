using GpuDistill.Compute;
using GpuDistill.Interop;
using GpuDistill.Kernels.Diagnostics;
using GpuDistill.Validation;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill.Diagnostics;

/// <summary>
/// Representation similarity: linear CKA (Kornblith et al., ICML 2019; loss-spec-2 12.1) between two layers' features
/// for the same examples, and between every pair of two lists of layers. CKA is 1 for representations equal up to an
/// orthogonal transform and a scale, and near 0 for unrelated ones.
/// </summary>
/// <remarks>
/// On an ILGPU accelerator the fused kernels run (<see cref="LinearCkaLauncher"/>: centred Gram products, never
/// stored); on a host <c>simd</c> device the libtorch composite (<see cref="CkaComposite"/>, GEMMs), which also
/// computes each layer's Gram matrix once for a whole matrix of pairs. Features are flattened per example and scaled
/// by a power of two that brings their largest magnitude into [1, 2): exact, and CKA does not change under it, but it
/// keeps the float32 Gram sums in range whatever the features' size. Diagnostic only: no gradient.
/// </remarks>
public static class RepresentationSimilarity
{
    private const string WhyTwoExamples = "CKA centres over the examples, and a single example centres to zero";

    /// <summary>The HSIC terms of X and Y: the biased ones of linear CKA and the unbiased HSIC_1 of minibatch CKA.</summary>
    /// <param name="x">Features of n examples [n, ...], float32, CPU, finite, n &gt;= 2.</param>
    /// <param name="y">Features of the same n examples [n, ...], float32, CPU, finite (another width allowed).</param>
    /// <param name="device">Accelerator to run on; <see cref="ComputeDevice.Default"/> when null.</param>
    /// <returns>The terms (of the scaled features: a ratio of them is what means something).</returns>
    public static HsicTerms Hsic(Tensor x, Tensor y, ComputeDevice? device = null) =>
        Hsic(x, y, device, null, null).Terms;

    /// <summary>
    /// <see cref="Hsic(Tensor, Tensor, ComputeDevice)"/> with the features scaled by 2^-exponent: the given exponents,
    /// or where null those of the features' largest magnitudes, which are returned so later batches of a minibatch
    /// sum can be scaled alike (HSIC is not scale-free, only CKA is).
    /// </summary>
    internal static (HsicTerms Terms, int? ExponentX, int? ExponentY) Hsic(Tensor x, Tensor y, ComputeDevice? device,
        int? exponentX, int? exponentY)
    {
        TensorChecks.RequireRelationPair(x, nameof(x), y, nameof(y), 2, WhyTwoExamples);
        using var scope = NewDisposeScope();
        PreparedFeatures px = Prepare(x, exponentX), py = Prepare(y, exponentY);
        return (Terms(px.Features, py.Features, device ?? ComputeDevice.Default), px.Exponent, py.Exponent);
    }

    /// <summary>Linear CKA of X and Y over their n examples, in [0, 1].</summary>
    /// <param name="x">Features of n examples [n, ...], float32, CPU, finite, n &gt;= 2, not the same for every example.</param>
    /// <param name="y">Features of the same n examples [n, ...], likewise.</param>
    /// <param name="device">Accelerator to run on; <see cref="ComputeDevice.Default"/> when null.</param>
    /// <returns>||Y_c^T X_c||_F^2 / (||X_c^T X_c||_F ||Y_c^T Y_c||_F).</returns>
    /// <exception cref="ArgumentException">Bad input, or features equal for every example (CKA is 0 / 0 there).</exception>
    public static double LinearCka(Tensor x, Tensor y, ComputeDevice? device = null)
    {
        TensorChecks.RequireRelationPair(x, nameof(x), y, nameof(y), 2, WhyTwoExamples);
        using var scope = NewDisposeScope();
        PreparedFeatures px = Prepare(x, null), py = Prepare(y, null);
        RequireVarying(px, nameof(x));
        RequireVarying(py, nameof(y));
        return Terms(px.Features, py.Features, device ?? ComputeDevice.Default).Cka;
    }

    /// <summary>
    /// Linear CKA between every layer of <paramref name="rowLayers"/> and every layer of <paramref name="columnLayers"/>
    /// (e.g. teacher stages by student stages), all for the same n examples.
    /// </summary>
    /// <param name="rowLayers">Features [n, ...] per layer, float32, CPU, finite.</param>
    /// <param name="columnLayers">Features [n, ...] per layer, likewise.</param>
    /// <param name="device">Accelerator to run on; <see cref="ComputeDevice.Default"/> when null.</param>
    /// <returns>[rows, columns]; NaN where a layer is the same for every example (a dead layer: CKA is undefined).</returns>
    public static double[,] LinearCkaMatrix(IReadOnlyList<Tensor> rowLayers, IReadOnlyList<Tensor> columnLayers,
        ComputeDevice? device = null)
    {
        ArgumentNullException.ThrowIfNull(rowLayers);
        ArgumentNullException.ThrowIfNull(columnLayers);
        if (rowLayers.Count == 0) throw new ArgumentException("rowLayers must hold one layer at least.", nameof(rowLayers));
        if (columnLayers.Count == 0) throw new ArgumentException("columnLayers must hold one layer at least.", nameof(columnLayers));
        int examples = RequireLayers(rowLayers, nameof(rowLayers), expectedExamples: null);
        RequireLayers(columnLayers, nameof(columnLayers), examples);

        ComputeDevice target = device ?? ComputeDevice.Default;
        var matrix = new double[rowLayers.Count, columnLayers.Count];
        using var scope = NewDisposeScope();
        PreparedFeatures[] rows = [.. rowLayers.Select(l => Prepare(l, null))];
        PreparedFeatures[] columns = [.. columnLayers.Select(l => Prepare(l, null))];
        // The composite's Gram matrices are computed once per layer (n x n float64 each); the fused kernel forms its
        // Gram entries on the fly, so it takes the pairs one by one.
        // A constant layer arrives as zeros, so its terms are exactly 0 and its CKA NaN (HsicTerms.Cka).
        Tensor[] rowGrams = target.UsesHostSimd ? [.. rows.Select(r => CkaComposite.CentredGram(r.Features))] : [];
        for (int c = 0; c < columns.Length; c++)
        {
            using var columnScope = NewDisposeScope();
            Tensor? columnGram = target.UsesHostSimd ? CkaComposite.CentredGram(columns[c].Features) : null;
            for (int r = 0; r < rows.Length; r++)
            {
                matrix[r, c] = target.UsesHostSimd
                    ? CkaComposite.FromGrams(rowGrams[r], columnGram!).Cka
                    : Fused(rows[r].Features, columns[c].Features, target).Cka;
            }
        }
        return matrix;
    }

    /// <summary>
    /// Features flattened to [n, p] and scaled by 2^-<paramref name="Exponent"/> (exact), or zeros when they are the
    /// same for every example (what centring makes of them, exactly, where float32 rounding of the mean would leave
    /// noise); the exponent is null then unless one was given.
    /// </summary>
    private sealed record PreparedFeatures(Tensor Features, bool Constant, int? Exponent);

    /// <summary>Flattens, and scales by 2^-exponent, by default the exponent that brings the largest |value| into [1, 2).</summary>
    private static PreparedFeatures Prepare(Tensor features, int? exponent)
    {
        // Its own scope: the float64 copy below is as large as the features twice over, and freed at once.
        using var scope = NewDisposeScope();
        Tensor flat = features.detach().flatten(1);
        if (flat.amax([0]).eq(flat.amin([0])).all().item<bool>())
            return new PreparedFeatures(zeros_like(flat).MoveToOuterDisposeScope(), Constant: true, exponent);
        int chosen = exponent ?? Math.ILogB((double)flat.abs().max().item<float>());
        // Scaled in float64 so even subnormal features reach [1, 2) without the scale itself overflowing float32.
        using Scalar scale = Math.ScaleB(1.0, -chosen).ToScalar();
        Tensor scaled = flat.to_type(ScalarType.Float64).mul(scale).to_type(ScalarType.Float32).contiguous();
        return new PreparedFeatures(scaled.MoveToOuterDisposeScope(), Constant: false, chosen);
    }

    private static void RequireVarying(PreparedFeatures features, string name)
    {
        if (features.Constant)
            throw new ArgumentException(
                $"{name} is the same for every example (zero variance after centring): CKA is 0 / 0 there, undefined.", name);
    }

    /// <summary>Checks every layer (as a relation feature, finite, one n of 2 or more) and returns n.</summary>
    private static int RequireLayers(IReadOnlyList<Tensor> layers, string name, int? expectedExamples)
    {
        int examples = expectedExamples ?? -1;
        for (int i = 0; i < layers.Count; i++)
        {
            string item = $"{name}[{i}]";
            (int batch, _) = TensorChecks.RequireRelationFeatures(layers[i], item);
            if (examples < 0) examples = batch;
            if (batch != examples)
                throw new ArgumentException($"{item} has {batch} examples; every layer must have the same {examples}.", item);
            TensorChecks.RequireRelationBatch(batch, item, 2, WhyTwoExamples);
            TensorChecks.RequireFinite(layers[i], item);
        }
        return examples;
    }

    private static HsicTerms Terms(Tensor x, Tensor y, ComputeDevice device) =>
        device.UsesHostSimd ? CkaComposite.Hsic(x, y) : Fused(x, y, device);

    private static HsicTerms Fused(Tensor x, Tensor y, ComputeDevice device)
    {
        lock (device.LaunchLock)
        {
            using var dx = DeviceArray<float>.ForInput(device, x);
            using var dy = DeviceArray<float>.ForInput(device, y);
            return device.Kernels<LinearCkaLauncher>().Run(dx.View, dy.View, (int)x.shape[0], (int)x.shape[1], (int)y.shape[1]);
        }
    }
}
