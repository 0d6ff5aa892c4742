using System.Runtime.InteropServices;
using GpuDistill.Compute.HostSimd;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill.Validation;

/// <summary>Argument checks shared by every loss: each failure names the argument and what was expected.</summary>
internal static class TensorChecks
{
    /// <summary>Requires a float32 tensor on the CPU with the given rank and no zero-sized dimension.</summary>
    public static void RequireFloatCpu(Tensor? tensor, string name, int rank)
    {
        ArgumentNullException.ThrowIfNull(tensor, name);
        if (tensor.IsInvalid)
            throw new ArgumentException($"{name} has been disposed.", name);
        if (tensor.device_type != DeviceType.CPU)
            throw new ArgumentException($"{name} must be a CPU tensor (GpuDistill moves data to the accelerator itself); got device {tensor.device}.", name);
        if (tensor.dtype != ScalarType.Float32)
            throw new ArgumentException($"{name} must be float32; got {tensor.dtype}.", name);
        if (tensor.dim() != rank)
            throw new ArgumentException($"{name} must have rank {rank}; got shape {Shape(tensor)}.", name);
        for (int d = 0; d < rank; d++)
        {
            if (tensor.shape[d] == 0)
                throw new ArgumentException($"{name} must not be empty; got shape {Shape(tensor)}.", name);
        }
    }

    /// <summary>Requires two tensors of one shape.</summary>
    public static void RequireSameShape(Tensor a, string aName, Tensor b, string bName)
    {
        if (!a.shape.SequenceEqual(b.shape))
            throw new ArgumentException($"{bName} must have the shape of {aName} {Shape(a)}; got {Shape(b)}.", bName);
    }

    /// <summary>
    /// Requires student and teacher logits of one [B, C] shape (float32, CPU, not empty, B and C below 2^31) and
    /// returns B and C.
    /// </summary>
    public static (int Rows, int Classes) RequireLogitPair(Tensor? student, string studentName, Tensor? teacher, string teacherName)
    {
        RequireFloatCpu(student, studentName, 2);
        RequireFloatCpu(teacher, teacherName, 2);
        RequireSameShape(student!, studentName, teacher!, teacherName);
        return RowsAndClasses(student!, studentName);
    }

    /// <summary>Requires logits [B, C] (float32, CPU) with B and C below 2^31; returns (B, C).</summary>
    public static (int Rows, int Classes) RequireLogits(Tensor? logits, string name)
    {
        RequireFloatCpu(logits, name, 2);
        return RowsAndClasses(logits!, name);
    }

    private static (int Rows, int Classes) RowsAndClasses(Tensor logits, string name)
    {
        if (logits.shape[0] > int.MaxValue || logits.shape[1] > int.MaxValue)
            throw new ArgumentException($"{name} must have fewer than 2^31 rows and classes; got {Shape(logits)}.", name);
        return ((int)logits.shape[0], (int)logits.shape[1]);
    }

    /// <summary>Requires a finite temperature above zero.</summary>
    public static void RequireTemperature(double temperature, string name)
    {
        if (!double.IsFinite(temperature) || temperature <= 0)
            throw new ArgumentOutOfRangeException(name, temperature, $"{name} must be finite and > 0.");
    }

    /// <summary>Requires a finite, non-negative loss weight.</summary>
    public static void RequireWeight(double weight, string name)
    {
        if (!double.IsFinite(weight) || weight < 0)
            throw new ArgumentOutOfRangeException(name, weight, $"{name} must be finite and >= 0.");
    }

    /// <summary>Requires a value in [0, 1] (a mixture weight).</summary>
    public static void RequireUnitInterval(double value, string name)
    {
        if (!(value >= 0 && value <= 1))
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be in [0, 1].");
    }

    /// <summary>Requires a named value of an enum (a cast integer is not one).</summary>
    public static void RequireDefined<TEnum>(TEnum value, string name) where TEnum : struct, Enum
    {
        if (!Enum.IsDefined(value))
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be one of {string.Join(", ", Enum.GetNames<TEnum>())}.");
    }

    // ---- Feature maps [B, C, H, W] (attention transfer) ----

    /// <summary>
    /// Requires an NCHW feature: float32, CPU, rank 4, not empty, fewer than 2^31 elements (the kernels index with
    /// int). Returns B, C, H, W.
    /// </summary>
    public static (int Batch, int Channels, int Height, int Width) RequireFeature(Tensor? feature, string name)
    {
        RequireFloatCpu(feature, name, 4);
        if (feature!.numel() > int.MaxValue)
            throw new ArgumentException($"{name} must have fewer than 2^31 elements; got shape {Shape(feature)}.", name);
        return ((int)feature.shape[0], (int)feature.shape[1], (int)feature.shape[2], (int)feature.shape[3]);
    }

    /// <summary>Requires two NCHW features with one batch size (channels and spatial sizes may differ).</summary>
    public static void RequireFeaturePair(Tensor? student, string studentName, Tensor? teacher, string teacherName)
    {
        RequireFeature(student, studentName);
        RequireFeature(teacher, teacherName);
        if (student!.shape[0] != teacher!.shape[0])
        {
            throw new ArgumentException(
                $"{teacherName} must have the batch size of {studentName} ({student.shape[0]}); got shape {Shape(teacher)}.", teacherName);
        }
    }

    /// <summary>Requires a finite exponent above zero (the p of |f|^p).</summary>
    public static void RequireExponent(double p, string name)
    {
        if (!double.IsFinite(p) || p <= 0)
            throw new ArgumentOutOfRangeException(name, p, $"{name} must be finite and > 0.");
    }

    // ---- end of feature maps ----

    /// <summary>
    /// Checks labels ([B], integer, CPU, each in [0, C) or the ignore index) and returns them as a contiguous int32
    /// tensor, with the number of rows that are not ignored.
    /// </summary>
    public static (Tensor Labels, int Counted) RequireLabels(Tensor labels, string name, long rows, long classes, int ignoreIndex) =>
        CheckLabels(labels, name, rows, classes, ignoreIndex);

    /// <summary>Throws if <paramref name="tensor"/> holds NaN or infinity (called when a loss came out non-finite).</summary>
    public static void RequireFinite(Tensor tensor, string name)
    {
        long index = FirstNonFinite(tensor);
        if (index < 0) return;
        long row = tensor.dim() > 1 ? index / tensor.shape[^1] : index;
        throw new ArgumentException($"{name} must be finite; it holds NaN or infinity (first at row {row}).", name);
    }

    /// <summary>Whether <see cref="HostFinite"/> can read the tensor's memory as it lies: contiguous float32 on the CPU.</summary>
    private static bool ReadsInPlace(Tensor tensor) =>
        tensor.device_type == DeviceType.CPU && tensor.dtype == ScalarType.Float32 && tensor.is_contiguous();

    /// <summary>
    /// The flat index of the first NaN or infinity, or -1: a contiguous float32 CPU tensor is read in place
    /// (<see cref="HostFinite"/>, no allocation), anything else through libtorch.
    /// </summary>
    private static long FirstNonFinite(Tensor tensor)
    {
        if (ReadsInPlace(tensor))
            return HostFinite.FirstNonFinite(MemoryMarshal.Cast<byte, float>(tensor.bytes));
        using var scope = NewDisposeScope();
        if (tensor.isfinite().all().item<bool>()) return -1;
        return tensor.isfinite().logical_not().flatten().nonzero()[0, 0].item<long>();
    }

    /// <summary>Formats a shape as [a, b, ...].</summary>
    public static string Shape(Tensor tensor) => "[" + string.Join(", ", tensor.shape) + "]";

    // ---- Feature losses (NST, PKT) -------------------------------------------------------------------------------
    // These losses are TorchSharp compositions that run wherever their tensors live, so unlike the kernel checks
    // above they accept any device, as long as student and teacher share it.

    /// <summary>Smallest eps <see cref="RequireFeatureEpsilon"/> accepts: the smallest normal float32.</summary>
    private const double SmallestFeatureEpsilon = 1.1754943508222875e-38;

    /// <summary>
    /// Requires student and teacher feature tensors: float32, rank <paramref name="rank"/> (or at least
    /// <paramref name="minRank"/> when rank is null), no zero-sized dimension, one batch size, one device. The other
    /// dimensions may differ.
    /// </summary>
    public static void RequireFeaturePair(Tensor? student, string studentName, Tensor? teacher, string teacherName,
        int? rank, int minRank = 2)
    {
        RequireFeatures(student, studentName, rank, minRank);
        RequireFeatures(teacher, teacherName, rank, minRank);
        if (student!.shape[0] != teacher!.shape[0])
            throw new ArgumentException(
                $"{teacherName} must have the batch size of {studentName} ({student.shape[0]}); got shape {Shape(teacher)}.", teacherName);
        if (student.device_type != teacher.device_type || student.device_index != teacher.device_index)
            throw new ArgumentException(
                $"{teacherName} must be on the device of {studentName} ({student.device}); got {teacher.device}.", teacherName);
    }

    /// <summary>Requires a float32 tensor of the given rank (or at least minRank) with no zero-sized dimension, on any device.</summary>
    public static void RequireFeatures(Tensor? tensor, string name, int? rank, int minRank = 2)
    {
        ArgumentNullException.ThrowIfNull(tensor, name);
        if (tensor.IsInvalid)
            throw new ArgumentException($"{name} has been disposed.", name);
        if (tensor.dtype != ScalarType.Float32)
            throw new ArgumentException($"{name} must be float32; got {tensor.dtype}.", name);
        if (rank is int r && tensor.dim() != r)
            throw new ArgumentException($"{name} must have rank {r}; got shape {Shape(tensor)}.", name);
        if (rank is null && tensor.dim() < minRank)
            throw new ArgumentException($"{name} must have rank {minRank} or more ([B, ...]); got shape {Shape(tensor)}.", name);
        for (int d = 0; d < tensor.dim(); d++)
        {
            if (tensor.shape[d] == 0)
                throw new ArgumentException($"{name} must not be empty; got shape {Shape(tensor)}.", name);
        }
    }

    /// <summary>Throws if a feature tensor [B, ...] holds NaN or infinity, naming the first example that does.</summary>
    public static void RequireFiniteFeatures(Tensor tensor, string name)
    {
        if (ReadsInPlace(tensor))
        {
            long index = FirstNonFinite(tensor);
            if (index >= 0) ThrowNonFiniteExample(name, index / Math.Max(1, tensor.numel() / tensor.shape[0]));
            return;
        }
        using var scope = NewDisposeScope();
        // Elsewhere (features may live on any device here): max |x| per example is finite exactly when the example is
        // (amax propagates NaN), and measured 7x faster than isfinite().all() on a 4M-element map.
        Tensor finitePerExample = tensor.detach().flatten(1).abs().amax([1]).isfinite();
        if (!finitePerExample.all().item<bool>())
            ThrowNonFiniteExample(name, finitePerExample.logical_not().nonzero()[0, 0].item<long>());
    }

    private static void ThrowNonFiniteExample(string name, long example) =>
        throw new ArgumentException($"{name} must be finite; it holds NaN or infinity (first in example {example}).", name);

    /// <summary>
    /// Requires an eps that float32 holds as a positive normal number (1.2e-38 to 3.4e38): a smaller one would round
    /// to 0 or lose precision in the float32 tensors it is added to.
    /// </summary>
    public static void RequireFeatureEpsilon(double eps, string name)
    {
        if (!(eps >= SmallestFeatureEpsilon && eps <= float.MaxValue))
            throw new ArgumentOutOfRangeException(name, eps,
                $"{name} must be finite and > 0, within float32's normal range [1.2e-38, 3.4e38].");
    }


    // ---- Relation losses (SP, RKD, FSP, CC) ----------------------------------------------------------------------
    // The relation kernels take [B, D] features on the CPU (GpuDistill moves them to the accelerator itself); their
    // checks run up front, since the O(B D) scan is small next to the O(B^2 D) kernels.

    /// <summary>
    /// Requires a float32 CPU tensor [B, ...] of rank at least <paramref name="minRank"/>, not empty, whose
    /// flattened width fits an int, and returns B and that width.
    /// </summary>
    public static (int Batch, int Width) RequireRelationFeatures(Tensor? tensor, string name, int minRank = 2)
    {
        ArgumentNullException.ThrowIfNull(tensor, name);
        if (tensor.IsInvalid)
            throw new ArgumentException($"{name} has been disposed.", name);
        if (tensor.device_type != DeviceType.CPU)
            throw new ArgumentException($"{name} must be a CPU tensor (GpuDistill moves data to the accelerator itself); got device {tensor.device}.", name);
        if (tensor.dtype != ScalarType.Float32)
            throw new ArgumentException($"{name} must be float32; got {tensor.dtype}.", name);
        if (tensor.dim() < minRank)
            throw new ArgumentException($"{name} must have rank {minRank} or more ([B, ...]); got shape {Shape(tensor)}.", name);
        for (int d = 0; d < tensor.dim(); d++)
        {
            if (tensor.shape[d] == 0)
                throw new ArgumentException($"{name} must not be empty; got shape {Shape(tensor)}.", name);
        }
        long width = tensor.numel() / tensor.shape[0];
        if (tensor.shape[0] > int.MaxValue || width > int.MaxValue)
            throw new ArgumentException($"{name} must have fewer than 2^31 examples and features per example; got shape {Shape(tensor)}.", name);
        return ((int)tensor.shape[0], (int)width);
    }

    /// <summary>
    /// Requires student and teacher features of one batch size B (at least <paramref name="minimumBatch"/>; the
    /// message says <paramref name="why"/>), each checked by <see cref="RequireRelationFeatures"/> and finite, and
    /// returns B and both flattened widths (which may differ).
    /// </summary>
    public static (int Batch, int StudentWidth, int TeacherWidth) RequireRelationPair(Tensor? student, string studentName,
        Tensor? teacher, string teacherName, int minimumBatch, string why)
    {
        (int batch, int studentWidth) = RequireRelationFeatures(student, studentName);
        (int teacherBatch, int teacherWidth) = RequireRelationFeatures(teacher, teacherName);
        if (teacherBatch != batch)
            throw new ArgumentException(
                $"{teacherName} must have the batch size of {studentName} ({batch}); got shape {Shape(teacher!)}.", teacherName);
        RequireRelationBatch(batch, studentName, minimumBatch, why);
        RequireFinite(student!, studentName);
        RequireFinite(teacher!, teacherName);
        return (batch, studentWidth, teacherWidth);
    }

    /// <summary>Requires at least <paramref name="minimumBatch"/> examples; <paramref name="why"/> says what needs them.</summary>
    public static void RequireRelationBatch(int batch, string name, int minimumBatch, string why)
    {
        if (batch < minimumBatch)
            throw new ArgumentException($"{name} must hold at least {minimumBatch} examples ({why}); got batch size {batch}.", name);
    }

    // ---- Multi-teacher KD ----------------------------------------------------------------------------------------

    /// <summary>
    /// Requires a teacher stack [K, B, C] (float32, CPU, not empty) whose rows match the student's [B, C], with
    /// K B C below 2^62, and returns K.
    /// </summary>
    public static int RequireTeacherStack(Tensor? teachers, string name, Tensor student, string studentName)
    {
        RequireFloatCpu(teachers, name, 3);
        if (teachers!.shape[1] != student.shape[0] || teachers.shape[2] != student.shape[1])
            throw new ArgumentException(
                $"{name} must have shape [K, {student.shape[0]}, {student.shape[1]}] (K teachers, each shaped like {studentName}); got {Shape(teachers)}.", name);
        if (teachers.shape[0] > int.MaxValue / 3)
            throw new ArgumentException($"{name} must stack fewer than 2^31 / 3 teachers; got shape {Shape(teachers)}.", name);
        return (int)teachers.shape[0];
    }

    /// <summary>
    /// Requires mixture weights: at least one, each finite and &gt;= 0, with a positive sum; returns the sum.
    /// </summary>
    public static double RequireMixtureWeights(double[]? weights, string name)
    {
        ArgumentNullException.ThrowIfNull(weights, name);
        if (weights.Length == 0)
            throw new ArgumentException($"{name} must hold one weight per teacher; got none.", name);
        double sum = 0;
        for (int k = 0; k < weights.Length; k++)
        {
            if (!double.IsFinite(weights[k]) || weights[k] < 0)
                throw new ArgumentOutOfRangeException(name, weights[k], $"{name}[{k}] = {weights[k]}: every weight must be finite and >= 0.");
            sum += weights[k];
        }
        if (!(sum > 0) || !double.IsFinite(sum))
            throw new ArgumentException($"{name} must have a positive, finite sum (they are normalised by it); got {sum}.", name);
        return sum;
    }

    /// <summary>
    /// Checks class labels ([B], int64 or int32, CPU, each in [0, C); no ignore index) and returns them as a
    /// contiguous int32 tensor.
    /// </summary>
    public static Tensor RequireClassLabels(Tensor? labels, string name, long rows, long classes)
    {
        ArgumentNullException.ThrowIfNull(labels, name);
        return CheckLabels(labels, name, rows, classes, ignoreIndex: null).Labels;
    }

    /// <summary>
    /// The one label check behind <see cref="RequireLabels"/> and <see cref="RequireClassLabels"/>: the tensor's kind
    /// and shape, then every value read as int64, before any narrowing (an int64 label of 2^32 would otherwise pass
    /// as 0); the count is of the rows whose label is not <paramref name="ignoreIndex"/>.
    /// </summary>
    private static (Tensor Labels, int Counted) CheckLabels(Tensor labels, string name, long rows, long classes, int? ignoreIndex)
    {
        if (labels.IsInvalid)
            throw new ArgumentException($"{name} has been disposed.", name);
        if (labels.device_type != DeviceType.CPU)
            throw new ArgumentException($"{name} must be a CPU tensor; got device {labels.device}.", name);
        if (labels.dtype is not (ScalarType.Int64 or ScalarType.Int32))
            throw new ArgumentException($"{name} must be int64 or int32; got {labels.dtype}.", name);
        if (labels.dim() != 1 || labels.shape[0] != rows)
            throw new ArgumentException($"{name} must have shape [{rows}] (one label per row); got {Shape(labels)}.", name);

        using Tensor wide = labels.to_type(ScalarType.Int64).contiguous();
        ReadOnlySpan<long> values = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(wide.bytes);
        int counted = 0;
        for (int i = 0; i < values.Length; i++)
        {
            long y = values[i];
            if (y == ignoreIndex) continue;
            if (y < 0 || y >= classes)
            {
                string ignored = ignoreIndex is int ignore ? $" and is not the ignore index {ignore}" : "";
                throw new ArgumentOutOfRangeException(name, y, $"{name}[{i}] = {y} is outside [0, {classes}){ignored}.");
            }
            counted++;
        }
        return (labels.to_type(ScalarType.Int32).contiguous(), counted);
    }
}
