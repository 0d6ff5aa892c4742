using GpuDistill.Models;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GpuDistill.Features;

/// <summary>
/// The FitNets regressor (loss-spec 2.1): maps a student feature map [B, Cs, Hs, Ws] to the teacher's shape
/// [B, Ct, Ht, Wt] with a convolution chosen by the spatial sizes, then batch norm and ReLU: a 3x3 stride-2 conv
/// when the student map is twice as large, a 4x4 stride-2 transposed conv when it is half as large, otherwise a
/// conv with kernel (1 + Hs - Ht, 1 + Ws - Wt) (1x1 when the sizes match).
/// </summary>
public sealed class HintRegressor : Module<Tensor, Tensor>
{
    private readonly Module<Tensor, Tensor> conv;
    private readonly BatchNormalization2d norm;

    /// <summary>Builds the regressor for one pair of shapes (batch dimension excluded).</summary>
    /// <param name="student">Student feature shape [Cs, Hs, Ws].</param>
    /// <param name="teacher">Teacher feature shape [Ct, Ht, Wt].</param>
    /// <exception cref="ArgumentException">A shape is not [C, H, W], or the student map is smaller than the
    /// teacher's other than by exactly half.</exception>
    public HintRegressor(long[] student, long[] teacher)
        : base(nameof(HintRegressor))
    {
        ArgumentNullException.ThrowIfNull(student);
        ArgumentNullException.ThrowIfNull(teacher);
        if (student.Length != 3)
            throw new ArgumentException($"FitNets needs a student feature map [B, C, H, W]; got a layer of shape [B, {string.Join(", ", student)}].", nameof(student));
        if (teacher.Length != 3)
            throw new ArgumentException($"FitNets needs a teacher feature map [B, C, H, W]; got a layer of shape [B, {string.Join(", ", teacher)}].", nameof(teacher));
        (long sc, long sh, long sw) = (student[0], student[1], student[2]);
        (long tc, long th, long tw) = (teacher[0], teacher[1], teacher[2]);
        if (sh == 2 * th && sw == 2 * tw)
        {
            conv = Conv2d(sc, tc, 3, stride: 2, padding: 1);
        }
        else if (2 * sh == th && 2 * sw == tw)
        {
            conv = ConvTranspose2d(sc, tc, 4, stride: 2, padding: 1);
        }
        else if (sh >= th && sw >= tw)
        {
            conv = Conv2d(sc, tc, (1 + sh - th, 1 + sw - tw));
        }
        else
        {
            throw new ArgumentException(
                $"FitNets cannot map a student map of {sh}x{sw} to a teacher map of {th}x{tw}: the student map must be at least as large, or exactly half as large.",
                nameof(student));
        }
        norm = new BatchNormalization2d(tc);
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input) => functional.relu(norm.call(Regress(input)));

    /// <summary>
    /// The convolution. A 1x1 one (equal sizes, the usual case) runs through <see cref="SameConv2d.Convolve"/> with the
    /// Conv2d's own weight and bias: libtorch's native convolution is several times slower here (and prints an NNPACK
    /// warning per call) and this runs at every FitNets step; the module and its checkpoint keys stay Conv2d's.
    /// </summary>
    internal Tensor Regress(Tensor input)
    {
        if (conv is not TorchSharp.Modules.Conv2d { weight: { } weight, bias: { } bias } || weight.shape[2] != 1 || weight.shape[3] != 1)
            return conv.call(input);
        return SameConv2d.Convolve(input, weight, nameof(input)).add(bias.view(1, -1, 1, 1));
    }
}
