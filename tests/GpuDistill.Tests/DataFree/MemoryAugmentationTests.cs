using GpuDistill.Data;
using GpuDistill.Methods;
using GpuDistill.Models;
using GpuDistill.Tests.Experiments;
using GpuDistill.Training;
using static TorchSharp.torch;

namespace GpuDistill.Tests.DataFree;

/// <summary>
/// Augmented draws from the generated-image memory: every shifted and mirrored image is one of the transforms a
/// float64 reference enumerates, mixup gives convex pairs of them, and the source labels what it hands over with the
/// teacher's logits for exactly those images.
/// </summary>
public sealed class MemoryAugmentationTests() : TrainingFixture(2, 5)
{
    /// <summary>Image <paramref name="source"/> [H, W] shifted by (dy, dx), edge pixels repeated, mirrored first when asked.</summary>
    private static double[,] Reference(double[,] source, int dy, int dx, bool mirror)
    {
        int h = source.GetLength(0), w = source.GetLength(1);
        var result = new double[h, w];
        for (int y = 0; y < h; y++)
        {
            for (int x = 0; x < w; x++)
            {
                // Output (y, x) reads the input at (y + dy, x + dx) of the mirrored image, clamped to the border.
                int sy = Math.Clamp(y + dy, 0, h - 1);
                int mx = Math.Clamp(x + dx, 0, w - 1);
                result[y, x] = source[sy, mirror ? w - 1 - mx : mx];
            }
        }
        return result;
    }

    private static double[,] Image(Tensor images, int i)
    {
        int h = (int)images.shape[2], w = (int)images.shape[3];
        double[] values = images[i, 0].to_type(ScalarType.Float64).data<double>().ToArray();
        var result = new double[h, w];
        for (int k = 0; k < values.Length; k++) result[k / w, k % w] = values[k];
        return result;
    }

    private static IEnumerable<double[,]> Candidates(double[,] source)
    {
        int m = MemoryAugmentations.MaxShift;
        for (int dy = -m; dy <= m; dy++)
            for (int dx = -m; dx <= m; dx++)
                foreach (bool mirror in new[] { false, true })
                    yield return Reference(source, dy, dx, mirror);
    }

    private static bool Same(double[,] a, double[,] b) => a.Cast<double>().Zip(b.Cast<double>()).All(p => Math.Abs(p.First - p.Second) < 1e-6);

    private static Tensor DistinctImages(int batch, int h, int w, long seed)
    {
        using var random = new TorchSharp.torch.Generator((ulong)seed);
        return randn([batch, 1, h, w], generator: random);
    }

    [TestCase(64, 9, 13)]
    [TestCase(3, 1, 1)]
    [TestCase(16, 28, 28)]
    public void EveryShiftedImageIsOneOfTheReferencesTransformsAndTheyVary(int batch, int h, int w)
    {
        using var scope = NewDisposeScope();
        Tensor images = DistinctImages(batch, h, w, 7);
        using var random = new TorchSharp.torch.Generator(11);
        Tensor augmented = MemoryAugmentations.Apply(images, MemoryAugmentation.ShiftFlip, random);
        Assert.That(augmented.shape, Is.EqualTo(images.shape));
        int unchanged = 0;
        for (int i = 0; i < batch; i++)
        {
            double[,] source = Image(images, i), seen = Image(augmented, i);
            Assert.That(Candidates(source).Any(c => Same(c, seen)), Is.True, $"image {i} is no shift-and-mirror of its input");
            if (Same(source, seen)) unchanged++;
        }
        if (h > 1 && w > 1) Assert.That(unchanged, Is.LessThan(batch / 4 + 1), "most images moved");
    }

    [Test]
    public void MixupGivesConvexPairsOfTheShiftedImages()
    {
        using var scope = NewDisposeScope();
        Tensor images = DistinctImages(32, 6, 7, 3);
        // The mixup draws start with the same shifts and mirrors, so the same seed gives the images it mixes.
        using var first = new TorchSharp.torch.Generator(5);
        using var second = new TorchSharp.torch.Generator(5);
        Tensor shifted = MemoryAugmentations.Apply(images, MemoryAugmentation.ShiftFlip, first);
        Tensor mixed = MemoryAugmentations.Apply(images, MemoryAugmentation.ShiftFlipMixup, second);
        var weights = new List<double>();
        for (int i = 0; i < 32; i++)
        {
            double[] a = shifted[i].flatten().to_type(ScalarType.Float64).data<double>().ToArray();
            double[] y = mixed[i].flatten().to_type(ScalarType.Float64).data<double>().ToArray();
            // y = λ a + (1 - λ) b for some partner b: λ by least squares, then the residual must vanish.
            bool found = false;
            for (int j = 0; j < 32 && !found; j++)
            {
                double[] b = shifted[j].flatten().to_type(ScalarType.Float64).data<double>().ToArray();
                double num = 0, den = 0;
                for (int k = 0; k < a.Length; k++) { num += (y[k] - b[k]) * (a[k] - b[k]); den += (a[k] - b[k]) * (a[k] - b[k]); }
                double lambda = den == 0 ? 1 : num / den;
                double residual = 0;
                for (int k = 0; k < a.Length; k++) residual = Math.Max(residual, Math.Abs(lambda * a[k] + (1 - lambda) * b[k] - y[k]));
                if (residual < 1e-5 && lambda is >= -1e-6 and <= 1 + 1e-6) { found = true; if (den != 0) weights.Add(lambda); }
            }
            Assert.That(found, Is.True, $"mixed image {i} is no convex pair of the shifted images");
        }
        Assert.That(weights.Count, Is.GreaterThan(20));
        Assert.That(weights.Max() - weights.Min(), Is.GreaterThan(0.3), "the weights vary");
    }

    [Test]
    public void NoneCopiesAndBadInputIsRefused()
    {
        using var scope = NewDisposeScope();
        Tensor images = DistinctImages(4, 5, 5, 1);
        using var random = new TorchSharp.torch.Generator(1);
        Assert.That(MemoryAugmentations.Apply(images, MemoryAugmentation.None, random).eq(images).all().item<bool>(), Is.True);
        Assert.That(() => MemoryAugmentations.Apply(images.flatten(1), MemoryAugmentation.ShiftFlip, random),
            Throws.ArgumentException.With.Property("ParamName").EqualTo("images").And.Message.Contains("[B, C, H, W]"));
        Assert.That(() => MemoryAugmentations.Parse("flip"),
            Throws.ArgumentException.With.Message.Contains("memoryAugmentation is 'flip'").And.Message.Contains("shift-flip-mixup"));
        Assert.That(MemoryAugmentations.Names.Select(MemoryAugmentations.Parse),
            Is.EqualTo(new[] { MemoryAugmentation.None, MemoryAugmentation.ShiftFlip, MemoryAugmentation.ShiftFlipMixup }));
    }

    [Test]
    public void AnAugmentedDrawCarriesTheTeachersLogitsForWhatTheStudentSees()
    {
        using DistillModel teacher = ModelFactory.Create("small-cnn", 5);
        using DistillModel student = ModelFactory.Create("small-cnn", 3);
        using var generator = new ImageGenerator(1, width: 16);
        using var source = new GeneratorBatchSource(generator, teacher, new DivergenceGame("l1", student), 8, 4, 1e-3, 1,
            memory: 16, studentStepsPerGeneratorStep: 2, augmentation: MemoryAugmentation.ShiftFlipMixup);
        using var scope = NewDisposeScope();
        List<ImageBatch> batches = source.Epoch(0).ToList();
        Assert.That(source.ImagesGenerated, Is.EqualTo(16), "two generator steps");
        using (no_grad())
        {
            foreach (ImageBatch batch in batches)
            {
                Tensor expected = teacher.ForwardLogits(batch.Images);
                Assert.That(batch.TeacherPass!.Logits.allclose(expected, rtol: 1e-4, atol: 1e-5), Is.True, "the logits are the teacher's for the augmented images");
                Assert.That(batch.Labels.eq(expected.argmax(1)).all().item<bool>(), Is.True);
            }
        }
        Assert.That(() => new GeneratorBatchSource(generator, teacher, new DivergenceGame("l1", student), 8, 4, 1e-3, 1,
                augmentation: MemoryAugmentation.ShiftFlip),
            Throws.ArgumentException.With.Property("ParamName").EqualTo("augmentation").And.Message.Contains("memory is 0"));
    }

    [Test]
    public void TheSettingIsCheckedByName()
    {
        var settings = new DeepInversionSettings { BatchSize = 8, MemoryAugmentation = "shift-flip" };
        Assert.That(settings.Validate, Throws.InstanceOf<ArgumentException>().With.Message.Contains("memoryAugmentation must be none while memory is 0"));
        Assert.That(() => (settings with { Memory = 8, MemoryAugmentation = "crop" }).Validate(),
            Throws.InstanceOf<ArgumentException>().With.Message.Contains("memoryAugmentation").And.Message.Contains("shift-flip-mixup"));
        Assert.That(() => (settings with { Memory = 8 }).Validate(), Throws.Nothing);
    }
}
