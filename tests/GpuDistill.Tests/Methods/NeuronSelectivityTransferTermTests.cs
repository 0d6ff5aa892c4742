using GpuDistill.Data;
using GpuDistill.Features;
using GpuDistill.Methods;
using GpuDistill.Models;
using GpuDistill.Tests.Experiments;
using GpuDistill.Training;
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
        using DistillModel teacher = ModelFactory.Create("teacher-cnn", 5);
        using DistillModel student = ModelFactory.Create("small-cnn", 3);
        var term = new NeuronSelectivityTransferTerm(new LayerSettings());
        term.Bind(student, teacher);
        using TeacherOutputs outputs = TeacherOutputs.Create(teacher, Train, cache: true, term.TeacherLayers);
        using var scope = NewDisposeScope();
        using var capture = new FeatureCapture(student, term.StudentLayers);
        ImageBatch batch = new ImageBatcher(Train, 20, new BatchOptions { Shuffle = true, Seed = 4 }).Epoch(0).First();
        Tensor logits = student.ForwardLogits(batch.Images);
        TeacherBatch t = outputs.Get(batch);
        var inputs = new TermInputs(logits, t.Logits, batch.Labels, 0, 1, term.StudentLayers.ToDictionary(l => l, l => capture[l]), t.Features)
        {
            TeacherExamples = t.Examples,
        };

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
