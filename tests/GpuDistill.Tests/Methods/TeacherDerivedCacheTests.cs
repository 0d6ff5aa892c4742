using GpuDistill.Methods;
using GpuDistill.Training;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Methods;

/// <summary>
/// Rows derived from cached teacher outputs are kept per image: a batch of kept images is gathered (the rows it
/// computed, in the batch's order), any other batch computed and kept, a batch without images (a live teacher)
/// always computed, and another cache starts again. Rows of another count, type or shape are refused.
/// </summary>
public sealed class TeacherDerivedCacheTests
{
    private static readonly object CacheA = new(), CacheB = new();

    /// <summary>Row i of image k: k * 10 + j for j of 3, counted in <paramref name="calls"/>.</summary>
    private static Func<Tensor> Rows(int[] images, List<int> calls, int offset = 0) => () =>
    {
        calls.Add(images.Length);
        float[] values = [.. images.SelectMany(k => Enumerable.Range(0, 3).Select(j => (float)(k * 10 + j + offset)))];
        return tensor(values, new long[] { images.Length, 3 });
    };

    [Test]
    public void KeptImagesAreGatheredAndNewOnesComputed()
    {
        using var scope = NewDisposeScope();
        var cache = new TeacherDerivedCache();
        var calls = new List<int>();
        int[] first = [7, 2, 40], again = [40, 7], mixed = [2, 9];

        Tensor a = cache.GetOrCompute(new TeacherExamples(CacheA, first), Rows(first, calls));
        Tensor b = cache.GetOrCompute(new TeacherExamples(CacheA, again), Rows(again, calls, offset: 1000));
        Tensor c = cache.GetOrCompute(new TeacherExamples(CacheA, mixed), Rows(mixed, calls));
        Tensor d = cache.GetOrCompute(new TeacherExamples(CacheA, [9, 2, 7, 40]), Rows([9, 2, 7, 40], calls, offset: 1000));

        Assert.Multiple(() =>
        {
            Assert.That(a.data<float>().ToArray(), Is.EqualTo(new float[] { 70, 71, 72, 20, 21, 22, 400, 401, 402 }));
            Assert.That(b.data<float>().ToArray(), Is.EqualTo(new float[] { 400, 401, 402, 70, 71, 72 }), "gathered, not recomputed (+1000)");
            Assert.That(c.data<float>().ToArray(), Is.EqualTo(new float[] { 20, 21, 22, 90, 91, 92 }), "image 9 is new: computed");
            Assert.That(d.data<float>().ToArray(), Is.EqualTo(new float[] { 90, 91, 92, 20, 21, 22, 70, 71, 72, 400, 401, 402 }));
            Assert.That(calls, Is.EqualTo(new[] { 3, 2 }));
            Assert.That(cache.Batches, Is.EqualTo((2L, 2L)));
        });
    }

    [Test]
    public void ALiveBatchIsAlwaysComputedAndAnotherCacheStartsAgain()
    {
        using var scope = NewDisposeScope();
        var cache = new TeacherDerivedCache();
        var calls = new List<int>();
        int[] images = [1, 3];
        cache.GetOrCompute(new TeacherExamples(CacheA, images), Rows(images, calls));
        cache.GetOrCompute(null, Rows(images, calls));
        cache.GetOrCompute(null, Rows(images, calls));
        Tensor other = cache.GetOrCompute(new TeacherExamples(CacheB, images), Rows(images, calls, offset: 5));
        Tensor generated = cache.GetOrCompute(new TeacherExamples(CacheB, [-1, 3]), Rows([-1, 3], calls));
        Tensor generatedAgain = cache.GetOrCompute(new TeacherExamples(CacheB, [-1, 3]), Rows([-1, 3], calls));
        Assert.Multiple(() =>
        {
            Assert.That(calls, Has.Count.EqualTo(6), "live batches, a new cache and rows without an image are computed");
            Assert.That(other.data<float>().ToArray(), Is.EqualTo(new float[] { 15, 16, 17, 35, 36, 37 }));
            Assert.That(generatedAgain.data<float>().ToArray(), Is.EqualTo(generated.data<float>().ToArray()));
        });
    }

    [Test]
    public void ImagesPastTheLargestArrayAreComputedEveryTime()
    {
        // Room for 10 floats: rows of 3 for images 0, 1 and 2; image 5 never fits, so a batch holding it is computed.
        using var scope = NewDisposeScope();
        var cache = new TeacherDerivedCache(maxFloats: 10);
        var calls = new List<int>();
        int[] fits = [2, 0], past = [1, 5];
        cache.GetOrCompute(new TeacherExamples(CacheA, fits), Rows(fits, calls));
        Tensor kept = cache.GetOrCompute(new TeacherExamples(CacheA, fits), Rows(fits, calls, offset: 1000));
        cache.GetOrCompute(new TeacherExamples(CacheA, past), Rows(past, calls));
        Tensor again = cache.GetOrCompute(new TeacherExamples(CacheA, past), Rows(past, calls, offset: 1000));
        Tensor one = cache.GetOrCompute(new TeacherExamples(CacheA, [1]), Rows([1], calls, offset: 1000));
        Assert.Multiple(() =>
        {
            Assert.That(kept.data<float>().ToArray(), Is.EqualTo(new float[] { 20, 21, 22, 0, 1, 2 }), "gathered");
            Assert.That(again.data<float>().ToArray(), Is.EqualTo(new float[] { 1010, 1011, 1012, 1050, 1051, 1052 }), "computed again");
            Assert.That(one.data<float>().ToArray(), Is.EqualTo(new float[] { 1010, 1011, 1012 }), "image 1 kept, as last computed");
            Assert.That(calls, Is.EqualTo(new[] { 2, 2, 2 }));
        });
    }

    [Test]
    public void RowsOfAnotherCountTypeOrShapeAreRefused()
    {
        using var scope = NewDisposeScope();
        var cache = new TeacherDerivedCache();
        cache.GetOrCompute(new TeacherExamples(CacheA, [0, 1]), () => zeros(2, 3));
        Assert.That(() => cache.GetOrCompute(new TeacherExamples(CacheA, [2, 3]), () => zeros(3, 3)),
            Throws.InvalidOperationException.With.Message.Contains("one row per image (2 images)"));
        Assert.That(() => cache.GetOrCompute(new TeacherExamples(CacheA, [2, 3]), () => zeros(2, 3, ScalarType.Float64)),
            Throws.InvalidOperationException.With.Message.Contains("float32"));
        Assert.That(() => cache.GetOrCompute(new TeacherExamples(CacheA, [2, 3]), () => zeros(2, 4)),
            Throws.InvalidOperationException.With.Message.Contains("was [3] and is now [4]"));
    }
}
