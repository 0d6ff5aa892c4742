using GpuDistill.Methods;
using GpuDistill.Tests.Experiments;
using GpuDistill.Tests.Generic;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Methods;

/// <summary>
/// FSP's term with cached teacher outputs keeps each pair's teacher flow matrices per image: the first batch computes
/// them, the same images again are gathered, and the loss and gradient are those computed from scratch.
/// </summary>
public sealed class FlowMatrixTermCacheTests() : TrainingFixture(5, 1)
{
    [Test]
    public void TheTeachersFlowsAreKeptPerImageWhenTheTeacherIsCached()
    {
        using var term = new FlowMatrixTerm(new LayerSettings());
        using var fixture = new CachedTeacherTermFixture(term, Train);
        using var scope = NewDisposeScope();
        TermInputs inputs = fixture.Batch();
        Dictionary<string, Tensor> studentLayers = inputs.StudentFeatures!.ToDictionary(kv => kv.Key, kv => kv.Value);
        term.BuildAdapter(studentLayers.ToDictionary(kv => kv.Key, kv => kv.Value.shape),
            inputs.TeacherFeatures!.ToDictionary(kv => kv.Key, kv => kv.Value.shape), 7);

        (double Loss, float[] Gradient) Run(TermInputs given)
        {
            Tensor loss = term.Compute(given);
            Tensor layer = studentLayers[term.StudentLayers[0]];
            Tensor gradient = autograd.grad([loss], [layer], retain_graph: true)[0];
            return (loss.item<float>(), TensorData.ToArray(gradient));
        }
        (double first, float[] firstGradient) = Run(inputs);
        (double again, float[] againGradient) = Run(inputs);
        (double fromScratch, float[] scratchGradient) = Run(inputs with { TeacherExamples = null });
        int pairs = term.StudentLayers.Count - 1;
        Assert.Multiple(() =>
        {
            Assert.That(pairs, Is.EqualTo(2));
            Assert.That(term.TeacherFlowBatches, Is.EqualTo(((long)pairs, (long)pairs + pairs)), "each pair computed once, gathered once, computed live once");
            Assert.That(again, Is.EqualTo(first));
            Assert.That(againGradient, Is.EqualTo(firstGradient));
            Assert.That(first, Is.EqualTo(fromScratch).Within(1e-6 * Math.Abs(fromScratch) + 1e-9));
            Assert.That(Tolerance.RelativeMaxError(firstGradient, scratchGradient.Select(g => (double)g).ToArray()), Is.LessThan(1e-5));
        });
    }
}
