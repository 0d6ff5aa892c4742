using GpuDistill.Models;
using GpuDistill.Tests.Data;
using GpuDistill.Tests.Generic;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Models;

/// <summary>The logit discriminator: one score per row, checkpoints, learning to tell two kinds of rows apart.</summary>
public sealed class LogitDiscriminatorTests
{
    [TestCase(1)]
    [TestCase(7)]
    public void GivesOneScorePerRow(int batch)
    {
        using var scope = NewDisposeScope();
        using var discriminator = new LogitDiscriminator(seed: 1);
        Assert.That(discriminator.call(randn(batch, 10)).shape, Is.EqualTo(new long[] { batch }));
    }

    [Test]
    public void CheckpointRoundTripRestoresTheScores()
    {
        using var directory = new TempDirectory();
        using var scope = NewDisposeScope();
        using var saved = new LogitDiscriminator(seed: 2);
        using var loaded = new LogitDiscriminator(seed: 3);
        Tensor rows = randn(5, 10);
        Checkpoint.SaveAtomic(saved, directory.File("discriminator.bin"));
        Assert.That(Checkpoint.TryLoad(loaded, directory.File("discriminator.bin")), Is.True);
        Assert.That(loaded.call(rows).eq(saved.call(rows)).all().item<bool>(), Is.True);
    }

    [Test]
    public void LearnsToTellPeakedRowsFromFlatOnes()
    {
        // "Teacher" rows are peaked (one logit at 8), "student" rows flat noise: 60 Adam steps separate them.
        Random random = RandomData.NewRandom();
        manual_seed(random.Next());
        using var scope = NewDisposeScope();
        using var discriminator = new LogitDiscriminator(seed: 4);
        using var optimizer = optim.Adam(discriminator.parameters(), lr: 1e-2);
        Tensor Peaked() => randn(32, 10) * 0.5f + nn.functional.one_hot(randint(10, [32]), 10).to_type(ScalarType.Float32) * 8f;
        Tensor Flat() => randn(32, 10) * 0.5f;
        Tensor targets = cat([ones(32), zeros(32)]);
        for (int step = 0; step < 60; step++)
        {
            using var stepScope = NewDisposeScope();
            optimizer.zero_grad();
            nn.functional.binary_cross_entropy_with_logits(discriminator.call(cat([Peaked(), Flat()])), targets).backward();
            optimizer.step();
        }
        using var noGrad = no_grad();
        Tensor correct = discriminator.call(cat([Peaked(), Flat()])).gt(0).eq(targets.gt(0.5f));
        Assert.That(correct.to_type(ScalarType.Float32).mean().item<float>(), Is.GreaterThan(0.95));
    }

    [Test]
    public void RowsOfAnotherLengthAreRejected()
    {
        using var scope = NewDisposeScope();
        using var discriminator = new LogitDiscriminator(seed: 5);
        ArgumentAssert.Rejects(() => discriminator.call(randn(4, 9)), "input", "[B, 10]");
        ArgumentAssert.Rejects(() => discriminator.call(randn(4, 10, 1)), "input", "[B, 10]");
    }
}
