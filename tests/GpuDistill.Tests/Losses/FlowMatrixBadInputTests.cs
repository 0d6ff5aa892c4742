using GpuDistill.Compute;
using GpuDistill.Tests.Generic;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Losses;

/// <summary>Every bad input to <see cref="GpuDistill.Losses.FlowMatrix"/> gets an ArgumentException naming the argument.</summary>
public sealed class FlowMatrixBadInputTests
{
    private static Tensor Fsp(Tensor sb, Tensor st, Tensor tb, Tensor tt) =>
        GpuDistill.Losses.FlowMatrix(sb, st, tb, tt, TestDevices.Get(AcceleratorKind.Cpu));

    [Test]
    public void BottomChannelsDiffer() =>
        ArgumentAssert.Rejects(() => Fsp(randn(2, 3, 4, 4), randn(2, 5, 4, 4), randn(2, 4, 4, 4), randn(2, 5, 4, 4)),
            "teacherBottom", "channels of studentBottom (3)");

    [Test]
    public void TopChannelsDiffer() =>
        ArgumentAssert.Rejects(() => Fsp(randn(2, 3, 4, 4), randn(2, 5, 4, 4), randn(2, 3, 4, 4), randn(2, 6, 2, 2)),
            "teacherTop", "channels of studentTop (5)");

    [TestCase(0)]
    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    public void RankNotFour(int which)
    {
        Tensor[] maps = [randn(2, 3, 4, 4), randn(2, 5, 4, 4), randn(2, 3, 4, 4), randn(2, 5, 4, 4)];
        maps[which] = maps[which].flatten(2);
        ArgumentAssert.Rejects(() => Fsp(maps[0], maps[1], maps[2], maps[3]), Names[which], "rank 4");
    }

    // A student map of rank 1: its channel count is read only after its rank is checked.
    [TestCase(0)]
    [TestCase(1)]
    public void StudentRankOne(int which)
    {
        Tensor[] maps = [randn(2, 3, 4, 4), randn(2, 5, 4, 4), randn(2, 3, 4, 4), randn(2, 5, 4, 4)];
        maps[which] = randn(7);
        ArgumentAssert.Rejects(() => Fsp(maps[0], maps[1], maps[2], maps[3]), Names[which], "rank 4");
    }

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    public void BatchMismatch(int which)
    {
        Tensor[] maps = [randn(2, 3, 4, 4), randn(2, 5, 4, 4), randn(2, 3, 4, 4), randn(2, 5, 4, 4)];
        maps[which] = randn(3, maps[which].shape[1], 4, 4);
        ArgumentAssert.Rejects(() => Fsp(maps[0], maps[1], maps[2], maps[3]), Names[which], "batch size of studentBottom (2)");
    }

    [Test]
    public void WrongDtype() =>
        ArgumentAssert.Rejects(() => Fsp(randn(2, 3, 4, 4), randn(2, 5, 4, 4).to_type(ScalarType.Float64), randn(2, 3, 4, 4),
            randn(2, 5, 4, 4)), "studentTop", "float32");

    [Test]
    public void EmptyMap() =>
        ArgumentAssert.Rejects(() => Fsp(randn(2, 3, 4, 4), randn(2, 5, 4, 4), randn(2, 3, 0, 4), randn(2, 5, 4, 4)),
            "teacherBottom", "empty");

    [TestCase(0, float.NaN)]
    [TestCase(1, float.PositiveInfinity)]
    [TestCase(2, float.NegativeInfinity)]
    [TestCase(3, float.NaN)]
    public void NonFiniteValues(int which, float bad)
    {
        Tensor[] maps = [randn(2, 3, 4, 4), randn(2, 5, 4, 4), randn(2, 3, 4, 4), randn(2, 5, 4, 4)];
        maps[which][1, 2, 3, 0] = tensor(bad);
        ArgumentAssert.Rejects(() => Fsp(maps[0], maps[1], maps[2], maps[3]), Names[which], "finite");
    }

    private static readonly string[] Names = ["studentBottom", "studentTop", "teacherBottom", "teacherTop"];
}
