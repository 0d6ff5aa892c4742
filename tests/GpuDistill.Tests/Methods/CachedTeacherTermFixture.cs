using GpuDistill.Data;
using GpuDistill.Features;
using GpuDistill.Methods;
using GpuDistill.Models;
using GpuDistill.Training;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Methods;

/// <summary>
/// A feature term bound to teacher-cnn and small-cnn with the teacher's outputs cached for its layers, and one
/// shuffled batch's inputs to it: what the tests of terms that keep teacher-derived values per image start from.
/// </summary>
internal sealed class CachedTeacherTermFixture : IDisposable
{
    private readonly DistillModel teacher = ModelFactory.Create("teacher-cnn", 5);
    private readonly DistillModel student = ModelFactory.Create("small-cnn", 3);
    private readonly TeacherOutputs outputs;
    private readonly FeatureCapture capture;
    private readonly ImageDataset train;
    private readonly IFeatureTerm term;

    public CachedTeacherTermFixture(IFeatureTerm term, ImageDataset train)
    {
        this.term = term;
        this.train = train;
        term.Bind(student, teacher);
        outputs = TeacherOutputs.Create(teacher, train, cache: true, term.TeacherLayers);
        capture = new FeatureCapture(student, term.StudentLayers);
    }

    /// <summary>The inputs of one batch of 20 (tensors in the caller's dispose scope), with the batch's images for
    /// the teacher-derived caches.</summary>
    public TermInputs Batch()
    {
        ImageBatch batch = new ImageBatcher(train, 20, new BatchOptions { Shuffle = true, Seed = 4 }).Epoch(0).First();
        Tensor logits = student.ForwardLogits(batch.Images);
        TeacherBatch t = outputs.Get(batch);
        return new TermInputs(logits, t.Logits, batch.Labels, 0, 1, term.StudentLayers.ToDictionary(l => l, l => capture[l]), t.Features)
        {
            TeacherExamples = t.Examples,
        };
    }

    public void Dispose()
    {
        capture.Dispose();
        outputs.Dispose();
        student.Dispose();
        teacher.Dispose();
    }
}
