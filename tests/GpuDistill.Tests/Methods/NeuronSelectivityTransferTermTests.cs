using GpuDistill.Methods;
using GpuDistill.Tests.Experiments;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Methods;

/// <summary>
/// NST's term with cached teacher outputs keeps each pair's teacher term per image: the first batch computes them,
/// the same images again are gathered, and the loss is the loss computed from scratch; a live teacher keeps nothing.
/// </summary>
public sealed class NeuronSelectivityTransferTermTests() : TrainingFixture(5, 1)
{
    [Test]
    public void TheTeachersTermsAreKeptPerImageWhenTheTeacherIsCached()
    {
        var term = new NeuronSelectivityTransferTerm(new LayerSettings());
        using var fixture = new CachedTeacherTermFixture(term, Train);
        using var scope = NewDisposeScope();
        TermInputs inputs = fixture.Batch();

        double first = term.Compute(inputs).item<float>();
        double again = term.Compute(inputs).item<float>();
        double fromScratch = term.Compute(inputs with { TeacherExamples = null }).item<float>();
        int pairs = term.StudentLayers.Count;
        Assert.Multiple(() =>
        {
            Assert.That(pairs, Is.EqualTo(3));
            Assert.That(term.TeacherTermBatches, Is.EqualTo(((long)pairs, (long)pairs)), "each pair computed once, then gathered");
            Assert.That(again, Is.EqualTo(first));
            Assert.That(first, Is.EqualTo(fromScratch).Within(1e-6 * Math.Abs(fromScratch) + 1e-9));
        });
    }
}
