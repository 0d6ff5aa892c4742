using GpuDistill.Diagnostics;
using GpuDistill.Tests.Generic;

namespace GpuDistill.Tests.Diagnostics;

/// <summary>The capacity-gap ladder: parameter counts by the formula, in increasing order, relative to the teacher.</summary>
public sealed class CapacityLadderTests
{
    // conv weights (no bias) + two batch-norm vectors per conv + head, for widths a/b/c.
    private static long Cnn(long a, long b, long c) =>
        9 * (1 * a + a * a + a * b + b * b + b * c + c * c) + 2 * 2 * (a + b + c) + c * 10 + 10;

    [Test]
    public void DefaultLadderGrowsFromTheSmallCnnTowardsTheTeacher()
    {
        IReadOnlyList<StudentSize> sizes = CapacityLadder.Describe(CapacityLadder.DefaultStudents);
        Assert.That(sizes.Select(s => s.Architecture), Is.EqualTo(new[] { "small-cnn", "cnn-w12", "mid-cnn", "cnn-w24" }));
        Assert.That(sizes.Select(s => s.Parameters), Is.EqualTo(new[] { Cnn(8, 16, 32), Cnn(12, 24, 48), Cnn(16, 32, 64), Cnn(24, 48, 96) }));
        Assert.That(sizes.Select(s => s.Parameters), Is.EqualTo(new long[] { 18_482, 41_110, 72_666, 162_562 }));
        Assert.That(sizes[^1].TeacherFraction, Is.EqualTo(162_562 / 288_170.0).Within(1e-15));
        Assert.That(sizes[1].Description, Does.Contain("12/24/48"));
    }

    [Test]
    public void OrderAndNamesAreChecked()
    {
        ArgumentAssert.Rejects(() => CapacityLadder.Describe(["mid-cnn", "small-cnn"]), "students", "must grow in size");
        ArgumentAssert.Rejects(() => CapacityLadder.Describe(["small-cnn", "small-cnn"]), "students", "must grow in size");
        ArgumentAssert.Rejects(() => CapacityLadder.Describe(["small-cnn", "resnet"]), "students", "valid names");
        ArgumentAssert.Rejects(() => CapacityLadder.Describe([]), "students", "one architecture");
        ArgumentAssert.Rejects(() => CapacityLadder.Describe(["mlp"], "vit"), "teacher", "valid names");
    }
}
