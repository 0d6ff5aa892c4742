using System.Text.Json.Nodes;
using GpuDistill.Caching;
using GpuDistill.Data;
using GpuDistill.Models;
using GpuDistill.Tests.Distributed;
using GpuDistill.Tests.Experiments;
using GpuDistill.Training;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Caching;

/// <summary>Teacher outputs written once as Parquet and read back by index: equal to the live teacher's, in training
/// too, and refused with the file and the difference named when they do not belong to the data, the teacher or are damaged.</summary>
public sealed class TeacherCacheTests() : TrainingFixture(20, 10)
{
    private static readonly TeacherCacheOptions SmallGroups = new() { Layers = ["stage2", "head:in"], RowGroupRows = 48, FileRows = 120 };

    // The small CNN as the teacher: its outputs and layers are all these tests need, at a fraction of teacher-cnn's cost.
    private const string Teacher = "small-cnn";

    [Test]
    public void TheCacheHoldsTheTeachersLogitsAndLayersByIndex()
    {
        using DistillModel teacher = ModelFactory.Create(Teacher, 5);
        string directory = Path.Combine(RunDirectory, "cache");
        TeacherCacheManifest manifest = TeacherCacheWriter.Write(teacher, Train, directory, SmallGroups);

        // 200 rows: files of 120 and 80 rows, row groups of at most 48 (48, 48, 24 and 48, 32).
        Assert.That(manifest.Files.Select(f => (f.FirstIndex, f.Rows)), Is.EqualTo(new[] { (0, 120), (120, 80) }));
        Assert.That(manifest.Layers.Select(l => l.Layer), Is.EqualTo(new[] { "stage2", "head:in" }));
        using TeacherCacheReader reader = TeacherCacheReader.Open(directory, Train, teacher, ["stage2", "head:in"]);
        Assert.That(reader.RowGroupCount, Is.EqualTo(5));

        int[] indices = [199, 0, 47, 48, 120, 121, 7];
        using var capture = new GpuDistill.Features.FeatureCapture(teacher, ["stage2", "head:in"]);
        using var live = ImageSubsetBatch(indices);
        teacher.eval();
        using (no_grad())
        {
            using Tensor logits = teacher.ForwardLogits(live.Images);
            AssertRead(reader, indices, null, logits);
            AssertRead(reader, indices, "stage2", capture["stage2"]);
            AssertRead(reader, indices, "head:in", capture["head:in"]);
        }
    }

    [Test]
    public void TopKKeepsTheLargestLogitsAndTheirProbabilities()
    {
        using DistillModel teacher = ModelFactory.Create(Teacher, 5);
        string directory = Path.Combine(RunDirectory, "cache");
        TeacherCacheWriter.Write(teacher, Train, directory, new TeacherCacheOptions { TopK = 3, RowGroupRows = 64 });
        using TeacherCacheReader reader = TeacherCacheReader.Open(directory, Train, teacher);
        int[] indices = [.. Enumerable.Range(0, Train.Count)];
        float[] read = new float[Train.Count * Train.ClassCount];
        reader.ReadLogits(indices, read);
        using var live = ImageSubsetBatch(indices);
        teacher.eval();
        using (no_grad())
        {
            using Tensor logits = teacher.ForwardLogits(live.Images);
            using Tensor cached = tensor(read).view(Train.Count, Train.ClassCount);
            (Tensor top, Tensor ids) = logits.topk(3, 1);
            Assert.That(cached.gather(1, ids).eq(top).all().item<bool>(), Is.True, "the top 3 logits are stored exactly, at their classes");
            using Tensor p = logits.softmax(1), q = cached.softmax(1);
            Assert.That(q.gather(1, ids).allclose(p.gather(1, ids), rtol: 1e-4, atol: 1e-6), Is.True, "their probabilities are kept");
            Assert.That(q.sum(1).allclose(ones(Train.Count), atol: 1e-5), Is.True);
        }
    }

    [Test]
    public void TrainingFromTheCacheEqualsTrainingWithTheLiveTeacher()
    {
        using DistillModel teacher = ModelFactory.Create(Teacher, 5);
        string directory = Path.Combine(RunDirectory, "cache");
        TeacherCacheWriter.Write(teacher, Train, directory, SmallGroups);
        WeightedLoss loss = WeightedLoss.Parse("kd:0.5,fitnets:1,ce:0.5");

        using DistillModel a = ModelFactory.Create("small-cnn", 3), b = ModelFactory.Create("small-cnn", 3);
        TrainingRun liveRun, cachedRun;
        using (TeacherOutputs live = TeacherOutputs.Create(teacher, Train, cache: false, ["stage2"]))
            liveRun = new Trainer(Options(2)).Fit("live", a, loss, Train, Test, live, null, false);
        // A budget below one row group: one is held at a time, and shuffled batches make the reader decode groups again.
        using (TeacherOutputs cached = TeacherOutputs.FromCache(teacher, Train, directory, ["stage2"], memoryBudgetBytes: 1))
        {
            cachedRun = new Trainer(Options(2)).Fit("cached", b, loss, Train, Test, cached, null, false);
            Assert.That(cached.DiskCache!.RowGroupsDecoded, Is.GreaterThan(cached.DiskCache.RowGroupCount), "row groups were streamed, not all held");
        }
        Assert.That(cachedRun.Epochs[1].TrainLoss, Is.EqualTo(liveRun.Epochs[1].TrainLoss).Within(1e-4));
        DataParallelTests.AssertSameState(b, a, 1e-4);
    }

    [Test]
    public void ACacheOfOtherDataOrAnotherTeacherIsRefused()
    {
        using DistillModel teacher = ModelFactory.Create(Teacher, 5);
        string directory = Path.Combine(RunDirectory, "cache");
        TeacherCacheWriter.Write(teacher, Train, directory, new TeacherCacheOptions { RowGroupRows = 100 });
        string metadata = Path.Combine(directory, TeacherCacheManifest.FileName);

        ImageDataset smaller = Train.Subset([.. Enumerable.Range(0, 150)], "smaller");
        Assert.That(() => TeacherCacheReader.Open(directory, smaller, teacher), Throws.InstanceOf<InvalidDataException>()
            .With.Message.Contains(metadata).And.Message.Contains("dataset of 200 examples and 10 classes").And.Message.Contains("this training set has 150"));
        ImageDataset shuffled = Train.Subset([.. Enumerable.Range(0, 200).Reverse()], "reversed");
        Assert.That(() => TeacherCacheReader.Open(directory, shuffled, teacher), Throws.InstanceOf<InvalidDataException>()
            .With.Message.Contains("another dataset of the same size"));
        using DistillModel other = ModelFactory.Create(Teacher, 6);
        Assert.That(() => TeacherCacheReader.Open(directory, Train, other), Throws.InstanceOf<InvalidDataException>()
            .With.Message.Contains("written by another teacher"));
        Assert.That(() => TeacherOutputs.FromCache(teacher, Train, directory, ["stage3"]), Throws.InstanceOf<InvalidDataException>()
            .With.Message.Contains("not stage3 that the loss reads"));
    }

    [Test]
    public void ATruncatedFileOrAMissingColumnIsRefusedNamingTheFile()
    {
        using DistillModel teacher = ModelFactory.Create("mlp", 5);
        string directory = Path.Combine(RunDirectory, "cache");
        TeacherCacheWriter.Write(teacher, Train, directory, new TeacherCacheOptions { RowGroupRows = 100 });
        string file = Path.Combine(directory, "part-00000.parquet");
        string metadata = Path.Combine(directory, TeacherCacheManifest.FileName);

        // A column the metadata promises but the file lacks.
        JsonNode json = JsonNode.Parse(File.ReadAllText(metadata))!;
        json["layers"] = new JsonArray(new JsonObject { ["layer"] = "fc1", ["column"] = "layer0", ["shape"] = new JsonArray(4) });
        File.WriteAllText(metadata, json.ToJsonString());
        Assert.That(() => TeacherCacheReader.Open(directory, Train, teacher), Throws.InstanceOf<InvalidDataException>()
            .With.Message.Contains(file).And.Message.Contains("no column 'layer0'"));
        json["layers"] = new JsonArray();
        File.WriteAllText(metadata, json.ToJsonString());

        byte[] bytes = File.ReadAllBytes(file);
        File.WriteAllBytes(file, bytes[..(bytes.Length / 2)]);
        Assert.That(() => TeacherCacheReader.Open(directory, Train, teacher), Throws.InstanceOf<InvalidDataException>()
            .With.Message.Contains(file).And.Message.Contains("the file is truncated"));
        File.Delete(file);
        Assert.That(() => TeacherCacheReader.Open(directory, Train, teacher), Throws.InstanceOf<InvalidDataException>()
            .With.Message.Contains(file).And.Message.Contains("missing"));
        Assert.That(() => TeacherCacheReader.Open(RunDirectory, Train, teacher), Throws.InstanceOf<InvalidDataException>()
            .With.Message.Contains("teacher-cache.json is missing"));
    }

    private ImageBatch ImageSubsetBatch(int[] indices)
    {
        ImageDataset subset = Train.Subset(indices, "probe");
        return new ImageBatcher(subset, indices.Length).Epoch(0).First();
    }

    private static void AssertRead(TeacherCacheReader reader, int[] indices, string? layer, Tensor expected)
    {
        float[] read = new float[expected.numel()];
        if (layer is null) reader.ReadLogits(indices, read);
        else reader.ReadLayer(indices, layer, read);
        using Tensor actual = tensor(read).view(expected.shape);
        Assert.That(actual.allclose(expected, rtol: 1e-5, atol: 1e-6), Is.True, layer ?? "logits");
    }
}
