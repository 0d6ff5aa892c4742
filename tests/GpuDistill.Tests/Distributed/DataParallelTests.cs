using System.Text;
using GpuDistill.Data;
using GpuDistill.Distributed;
using GpuDistill.Models;
using GpuDistill.Tests.Experiments;
using GpuDistill.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Distributed;

/// <summary>
/// The data-parallel and peer hooks of the trainer in one process: shards, gradient buckets, synchronised batch norm,
/// the checks that refuse a run at its start. The runs over real processes are in <see cref="MpiRunTests"/>.
/// </summary>
public sealed class DataParallelTests() : TrainingFixture(20, 10)
{
    [Test]
    public void ShardsSplitEveryBatchIntoContiguousNearlyEqualSlices()
    {
        Assert.That(Enumerable.Range(0, 4).Select(r => ShardedBatches.Range(100, r, 4)), Is.EqualTo(new[] { (0, 25), (25, 25), (50, 25), (75, 25) }));
        Assert.That(Enumerable.Range(0, 3).Select(r => ShardedBatches.Range(11, r, 3)), Is.EqualTo(new[] { (0, 4), (4, 4), (8, 3) }));
        var e = Assert.Throws<InvalidOperationException>(() => ShardedBatches.Range(1, 0, 2));
        Assert.That(e!.Message, Does.Contain("1 image(s) cannot give each of the 2 ranks one"));
    }

    [Test]
    public void EachRankGetsItsSliceOfEveryBatchWithItsIndices()
    {
        var batcher = new ImageBatcher(Train, 30, new BatchOptions { Shuffle = true, Seed = 4 });
        int[] order = batcher.Order(0);
        var shard = new ShardedBatches(batcher, rank: 1, size: 3);
        List<int> seen = [];
        foreach (ImageBatch batch in shard.Epoch(0))
        {
            using (batch)
            {
                Assert.That(batch.Images.shape[0], Is.EqualTo(batch.Count));
                Assert.That(batch.Labels.data<long>().ToArray(), Is.EqualTo(batch.Indices.Select(i => (long)Train.Label(i)).ToArray()));
                seen.AddRange(batch.Indices);
            }
        }
        // 200 images in batches of 30: rank 1 of 3 takes images 10..19 of each full batch and 7..13 of the last 20.
        int[] expected = [.. Enumerable.Range(0, 6).SelectMany(b => order.Skip(b * 30 + 10).Take(10)), .. order.Skip(180 + 7).Take(7)];
        Assert.That(seen, Is.EqualTo(expected));
    }

    [Test]
    public void TheBackwardPassAccumulatesIntoTheBucketsAndTheSumIsInPlace()
    {
        using var linear = nn.Linear(3, 2);
        TorchSharp.Modules.Parameter[] parameters = [.. linear.parameters()];
        // 8 weights (24 bytes) and 2 biases: a 24-byte bucket puts them in two.
        using var buckets = new GradientBuckets(parameters, bucketBytes: 24);
        Assert.That(buckets.Count, Is.EqualTo(2));
        using Tensor x = randn(5, 3);
        buckets.Attach();
        linear.call(x).square().sum().backward();
        Tensor[] single = [.. parameters.Select(p => p.grad!.clone())];
        buckets.Sum(new MirroredGroup(size: 2));
        for (int i = 0; i < parameters.Length; i++)
            Assert.That(parameters[i].grad!.allclose(single[i].mul(2)), Is.True, $"parameter {i}: the sum over two identical ranks is twice the gradient");

        // The next step starts from zero again.
        buckets.Attach();
        linear.call(x).square().sum().backward();
        Assert.That(parameters[0].grad!.allclose(single[0]), Is.True);
    }

    [Test]
    public void SynchronisedBatchNormOnOneProcessIsPlainBatchNorm([Values(1, 2)] int ranks)
    {
        using var plain = new BatchNormalization2d(3);
        using var synced = new BatchNormalization2d(3) { Synchronisation = new SynchronisedBatchNorm(new MirroredGroup(ranks)) };
        foreach (var bn in new[] { plain, synced })
        {
            using (no_grad())
            {
                bn.parameters().First().copy_(tensor(new[] { 0.5f, 2f, -1f }));
            }
        }
        var generator = new Random(7);
        float[] values = [.. Enumerable.Range(0, 4 * 3 * 5 * 5).Select(_ => (float)(generator.NextDouble() * 4 - 1))];
        using Tensor a = tensor(values).view(4, 3, 5, 5).requires_grad_(true);
        using Tensor b = tensor(values).view(4, 3, 5, 5).requires_grad_(true);
        using Tensor weights = tensor([.. Enumerable.Range(0, 300).Select(i => (float)Math.Sin(i))]).view(4, 3, 5, 5);
        // One process over the whole batch: every rank's shard (here all the same) together.
        Tensor yPlain = plain.call(cat(Enumerable.Repeat(a, ranks).ToArray())).narrow(0, 0, 4), ySynced = synced.call(b);
        yPlain.mul(weights).sum().mul(2.5).backward();
        ySynced.mul(weights).sum().mul(2.5).backward();

        Assert.Multiple(() =>
        {
            // Every rank mirroring this one's batch: the statistics are the same as this batch's alone, while the
            // gradient of the shared sums is every rank's together.
            Assert.That(ySynced.allclose(yPlain, rtol: 1e-4, atol: 1e-5), Is.True, "output");
            Assert.That(synced.buffers().First().allclose(plain.buffers().First(), rtol: 1e-5, atol: 1e-6), Is.True, "running mean");
            Assert.That(synced.buffers().Skip(1).First().allclose(plain.buffers().Skip(1).First(), rtol: 1e-4, atol: 1e-6), Is.True, "running variance");
            if (ranks == 1)
            {
                Assert.That(b.grad!.allclose(a.grad!, rtol: 1e-3, atol: 1e-5), Is.True, "input gradient");
                Assert.That(synced.parameters().First().grad!.allclose(plain.parameters().First().grad!, rtol: 1e-4, atol: 1e-5), Is.True, "weight gradient");
            }
        });
    }

    [Test]
    public void DataParallelOverOneProcessWithSynchronisedBatchNormTrainsAsThePlainTrainer()
    {
        TrainingOptions options = Options(1) with { BatchSize = 40 };
        using DistillModel plain = ModelFactory.Create("small-cnn", 5);
        using DistillModel spread = ModelFactory.Create("small-cnn", 5);
        TrainingRun a = new Trainer(options).Fit("plain", plain, WeightedLoss.ForMethod("none"), Train, Test, null, null, false);
        TrainingRun b = new Trainer(options, distributed: new DataParallel(new SingleProcessGroup(), BatchNormMode.Synchronised, bucketBytes: 4096))
            .Fit("plain", spread, WeightedLoss.ForMethod("none"), Train, Test, null, null, false);

        Assert.That(b.Epochs[0].TrainLoss, Is.EqualTo(a.Epochs[0].TrainLoss).Within(1e-4));
        AssertSameState(spread, plain, 1e-4);
    }

    [Test]
    public void ABatchSizeThatDoesNotDivideByTheRanksIsRefused()
    {
        using DistillModel model = ModelFactory.Create("mlp", 1);
        var trainer = new Trainer(Options(1) with { BatchSize = 50 }, distributed: new DataParallel(new MirroredGroup(3)));
        var e = Assert.Throws<ArgumentException>(() => trainer.Fit("mlp", model, WeightedLoss.ForMethod("none"), Train, Test, null, null, false));
        Assert.That(e!.Message, Does.Contain("batch size 50 does not divide by the 3 ranks"));
    }

    [Test]
    public void RanksStartedWithOtherSettingsAreRefusedNamingTheDifference()
    {
        byte[] other = Encoding.UTF8.GetBytes("options: A\ndata: B\nepochs: 3");
        var e = Assert.Throws<ArgumentException>(() =>
            SettingsAgreement.Require(new MirroredGroup(2, otherSettings: other), ["options: A", "data: B", "epochs: 2"]));
        Assert.That(e!.Message, Does.Contain("Rank 1 was started with other settings than rank 0: rank 0 has 'epochs: 2', rank 1 'epochs: 3'"));

        using DistillModel model = ModelFactory.Create("mlp", 1);
        var trainer = new Trainer(Options(1), distributed: new DataParallel(new MirroredGroup(2, otherSettings: Encoding.UTF8.GetBytes("options: other"))));
        e = Assert.Throws<ArgumentException>(() => trainer.Fit("mlp", model, WeightedLoss.ForMethod("none"), Train, Test, null, null, false));
        Assert.That(e!.Message, Does.Contain("rank 1 'options: other'"));
    }

    [Test]
    public void PeersNeedOneRankEach()
    {
        using DistillModel a = ModelFactory.Create("mlp", 1), b = ModelFactory.Create("mlp", 2), c = ModelFactory.Create("mlp", 3);
        Learner[] learners = [.. new[] { a, b, c }.Select((m, k) => new Learner($"peer{k}", m, WeightedLoss.Parse(GpuDistill.Methods.MutualLearningScheme.PeerLoss)))];
        var e = Assert.Throws<ArgumentException>(() =>
            new Trainer(Options(1), distributed: new PeerParallel(new MirroredGroup(2))).FitTogether(learners, Train, Test, null, null, false));
        Assert.That(e!.Message, Does.Contain("3 peers need 3 ranks (mpirun -np 3); this run has 2"));
    }

    internal static void AssertSameState(DistillModel actual, DistillModel expected, double tolerance)
    {
        foreach (((string name, Tensor x), (_, Tensor y)) in actual.state_dict().Zip(expected.state_dict()))
        {
            using Tensor a = x.to_type(ScalarType.Float64), b = y.to_type(ScalarType.Float64);
            double difference = a.sub(b).abs().max().item<double>();
            Assert.That(difference, Is.LessThanOrEqualTo(tolerance * Math.Max(1, b.abs().max().item<double>())), $"{name}: largest difference {difference:G3}");
        }
    }
}
