using GpuDistill.Kernels.Rows;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Generic;

/// <summary>A two-sided row loss through its TorchSharp bridge: student and teacher [B, C] at T with a reduction.</summary>
public delegate Tensor BridgedTwoSidedLoss(Tensor student, Tensor teacher, double temperature, RowReduction reduction);

/// <summary>The same loss written in TorchSharp ops (float64 tensors in, scalar out), for libtorch to differentiate.</summary>
public delegate Tensor CompositeTwoSidedLoss(Tensor student, Tensor teacher, double temperature, RowReduction reduction);

/// <summary>A two-sided row loss under test: its bridge, its float64 reference, its composite, and which inputs it accepts.</summary>
/// <param name="Fused">The bridge.</param>
/// <param name="Reference">The float64 reference.</param>
/// <param name="Composite">The TorchSharp composite.</param>
/// <param name="Magnitude">The size of the loss's terms for given logits, T and N / D.</param>
public sealed record TwoSidedUnderTest(
    BridgedTwoSidedLoss Fused,
    TwoSidedReference Reference,
    CompositeTwoSidedLoss Composite,
    Func<float[], float[], double, double, double> Magnitude);

/// <summary>The checks both two-sided losses' bridges pass, written once.</summary>
public static class TwoSidedBridgeCheck
{
    /// <summary>The upstream gradient the checks back-propagate: not 1, so a bridge that drops it fails.</summary>
    public const double UpstreamGradient = 2.5;

    /// <summary>
    /// Random logits of one of <see cref="RowKernelRun.Shapes"/>, both requiring a gradient, through the bridge times
    /// the upstream gradient: a scalar loss equal to the reference's, and each input gets the reference's gradient
    /// times the upstream gradient.
    /// </summary>
    public static void BothGetReferenceGradientTimesUpstream(TwoSidedUnderTest loss, int shape, double temperature,
        RowReduction reduction)
    {
        (int rows, int classes) = RowKernelRun.Shapes[shape];
        (float[] s, float[] t) = Logits(rows, classes, 5);
        bool elementwise = reduction == RowReduction.ElementwiseMean;

        using var disposeScope = NewDisposeScope();
        Tensor student = TensorData.Matrix(s, rows, classes, requiresGrad: true);
        Tensor teacher = TensorData.Matrix(t, rows, classes, requiresGrad: true);
        Tensor value = loss.Fused(student, teacher, temperature, reduction);
        (value * UpstreamGradient).backward();

        float[] kernelGradient = [.. TensorData.ToArray(student.grad!).Select(g => (float)(g / UpstreamGradient))];
        var expected = loss.Reference(s, t, rows, classes, temperature, elementwise, null, kernelGradient);
        double divisor = TwoSidedRowCheck.Divisor(rows, classes, elementwise);
        Assert.That(value.shape, Is.Empty, "the loss is a scalar");
        TwoSidedRowCheck.AssertMatches(
            (value.item<float>() * UpstreamGradient, TensorData.ToArray(student.grad!), TensorData.ToArray(teacher.grad!)),
            (expected.Loss * UpstreamGradient, Scale(expected.StudentGradient), Scale(expected.TeacherGradient)),
            UpstreamGradient * loss.Magnitude(s, t, temperature, rows / divisor), UpstreamGradient / (temperature * divisor),
            $"shape {rows}x{classes}, T {temperature}, {reduction}");
    }

    /// <summary>A teacher whose logits do not require a gradient gets none, and the student still gets its own.</summary>
    public static void TeacherWithoutGradientGetsNone(TwoSidedUnderTest loss)
    {
        (float[] s, float[] t) = Logits(6, 5, 3);
        using var disposeScope = NewDisposeScope();
        Tensor student = TensorData.Matrix(s, 6, 5, requiresGrad: true);
        Tensor teacher = TensorData.Matrix(t, 6, 5);
        loss.Fused(student, teacher, 2.0, RowReduction.BatchMean).backward();
        var expected = loss.Reference(s, t, 6, 5, 2.0, false, null, TensorData.ToArray(student.grad!));
        Assert.That(teacher.grad, Is.Null);
        Assert.That(Tolerance.RelativeMaxError(TensorData.ToArray(student.grad!), expected.StudentGradient), Is.LessThan(Tolerance.Kernel));
    }

    /// <summary>
    /// The generator's case: images x [B, 12] requiring a gradient go through a frozen linear "teacher" and a linear
    /// "student"; minus the loss is back-propagated. The teacher's weights get nothing, x gets the gradient libtorch
    /// finds for the TorchSharp composite of the same math in float64, through both branches.
    /// </summary>
    public static void GradientReachesTheInputThroughAFrozenTeacher(TwoSidedUnderTest loss, RowReduction reduction)
    {
        Random random = RandomData.NewRandom();
        using var disposeScope = NewDisposeScope();
        const int batch = 7, width = 12, classes = 10;
        const double temperature = 2.0;
        float[] xs = RandomData.Uniform(random, batch * width, 1);
        Tensor teacherWeight = TensorData.Matrix(RandomData.Uniform(random, classes * width, 1), classes, width);
        Tensor studentWeight = TensorData.Matrix(RandomData.Uniform(random, classes * width, 1), classes, width, requiresGrad: true);

        Tensor x = TensorData.Matrix(xs, batch, width, requiresGrad: true);
        Tensor fused = loss.Fused(x.matmul(studentWeight.t()), x.matmul(teacherWeight.t()), temperature, reduction);
        (-fused).backward();

        Tensor x64 = TensorData.Matrix(xs, batch, width).to_type(ScalarType.Float64).requires_grad_(true);
        Tensor composite = loss.Composite(x64.matmul(studentWeight.detach().to_type(ScalarType.Float64).t()),
            x64.matmul(teacherWeight.to_type(ScalarType.Float64).t()), temperature, reduction);
        (-composite).backward();

        Assert.Multiple(() =>
        {
            Assert.That(teacherWeight.grad, Is.Null, "the teacher's weights stay frozen");
            Assert.That(fused.item<float>(), Is.EqualTo(composite.item<double>()).Within(1e-3).Percent);
            Assert.That(Tolerance.RelativeMaxError(TensorData.ToArray(x.grad!), x64.grad!.data<double>().ToArray()),
                Is.LessThan(1e-4), "input gradient");
        });
    }

    /// <summary>Strided (transposed) student and teacher [12, 7] give the reference loss and gradients of their shape.</summary>
    public static void NonContiguousInputsAreAccepted(TwoSidedUnderTest loss)
    {
        // Drawn as [12, 7] rows (what the loss sees), stored transposed.
        (float[] s, float[] t) = Logits(12, 7, 3);
        using var disposeScope = NewDisposeScope();
        Tensor student = TensorData.Matrix(s, 12, 7).t().contiguous().t().requires_grad_(true);
        Tensor teacher = TensorData.Matrix(t, 12, 7).t().contiguous().t().requires_grad_(true);
        Assert.That(student.is_contiguous(), Is.False);
        Tensor value = loss.Fused(student, teacher, 2.0, RowReduction.BatchMean);
        value.backward();
        var expected = loss.Reference(s, t, 12, 7, 2.0, false, null, TensorData.ToArray(student.grad!));
        Assert.That(value.item<float>(), Is.EqualTo(expected.Loss).Within(1e-4).Percent);
        Assert.That(student.grad!.shape, Is.EqualTo(new long[] { 12, 7 }));
        Assert.That(Tolerance.RelativeMaxError(TensorData.ToArray(teacher.grad!), expected.TeacherGradient), Is.LessThan(Tolerance.Kernel));
    }

    private static (float[] Student, float[] Teacher) Logits(int rows, int classes, double scale)
    {
        Random random = RandomData.NewRandom();
        return TwoSidedRowCheck.Logits(random, rows, classes, scale);
    }

    private static double[] Scale(double[] gradient) => gradient.Select(g => g * UpstreamGradient).ToArray();
}
