using GpuDistill.Methods;
using GpuDistill.Models;
using GpuDistill.Tests.Generic;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Module = TorchSharp.torch.nn.Module;

namespace GpuDistill.Tests.Methods;

/// <summary>
/// FSP's term on the host applies its channel projections (1x1 convolution and batch norm) to each pair's small flow
/// matrix instead of to every position of the maps. It must give what projecting the maps gives, checked against
/// batch norm written out in float64 over the projected maps built in full (libtorch convolution): the loss, the gradients of the student's layers and of the
/// projections' parameters, and batch norm's running statistics, in training and in eval mode, over two steps.
/// </summary>
public sealed class FlowMatrixTermTests
{
    private static readonly string[] Layers = ["stage1", "stage2", "stage3"];

    /// <summary>Student and teacher shapes per layer (batch first), the student's channels given; the teacher's are
    /// the teacher-cnn's.</summary>
    private static (Dictionary<string, long[]> Student, Dictionary<string, long[]> Teacher) Shapes(long batch, long[] studentChannels, long[] sizes) =>
        (Layers.Select((l, i) => (l, new[] { batch, studentChannels[i], sizes[i], sizes[i] })).ToDictionary(p => p.l, p => p.Item2),
         Layers.Select((l, i) => (l, new[] { batch, new long[] { 32, 64, 128 }[i], sizes[i], sizes[i] })).ToDictionary(p => p.l, p => p.Item2));

    private static FlowMatrixTerm Term(Dictionary<string, long[]> student, Dictionary<string, long[]> teacher)
    {
        using DistillModel s = ModelFactory.Create("small-cnn", 0), t = ModelFactory.Create("teacher-cnn", 0);
        var term = new FlowMatrixTerm(new LayerSettings());
        term.Bind(s, t);
        term.BuildAdapter(student, teacher, 7);
        return term;
    }

    // Small CNN's widths (every layer projected); a student whose stage2 already has the teacher's 64 channels (that
    // layer used as it is); a batch of 1; a batch of 3 with 1x1 maps (three values a channel: the running variance's
    // unbiasing N / (N - 1) is 1.5).
    [TestCase(16, new long[] { 8, 16, 32 }, new long[] { 14, 7, 7 }, true)]
    [TestCase(16, new long[] { 8, 16, 32 }, new long[] { 14, 7, 7 }, false)]
    [TestCase(5, new long[] { 12, 64, 3 }, new long[] { 9, 5, 5 }, true)]
    [TestCase(1, new long[] { 8, 16, 32 }, new long[] { 14, 7, 7 }, true)]
    [TestCase(1, new long[] { 8, 16, 32 }, new long[] { 14, 7, 7 }, false)]
    [TestCase(3, new long[] { 3, 5, 7 }, new long[] { 1, 1, 1 }, true)]
    public void ProjectedFlowsMatchAFloat64ReferenceOfTheProjectedMaps(int batch, long[] studentChannels, long[] sizes, bool training)
    {
        (Dictionary<string, long[]> studentShapes, Dictionary<string, long[]> teacherShapes) = Shapes(batch, studentChannels, sizes);
        using FlowMatrixTerm term = Term(studentShapes, teacherShapes);
        term.Adapter!.train(training);
        if (!training)
        {
            // Running statistics away from 0 and 1, so eval mode uses them for something.
            using var noGrad = no_grad();
            foreach ((string name, Tensor buffer) in term.Adapter.named_buffers())
            {
                if (name.EndsWith("running_mean", StringComparison.Ordinal)) buffer.copy_(arange(buffer.shape[0]).mul(0.1).sub(0.5));
                if (name.EndsWith("running_var", StringComparison.Ordinal)) buffer.copy_(arange(buffer.shape[0]).mul(0.05).add(0.3));
            }
        }
        // The projection of each layer (null where the student already has the teacher's channels), in layer order.
        var modules = term.Adapter.children().GetEnumerator();
        Module?[] projections = [.. Layers.Select(l => studentShapes[l][1] == teacherShapes[l][1] ? null : Next())];
        Module Next() { Assert.That(modules.MoveNext(), Is.True, "a projection per layer of another width"); return modules.Current; }

        // Fresh inputs each run: student maps in [-1, 3) (a mean far from 0, where a variance from raw second moments would
        // cancel), teacher maps in [0, 2); an upstream gradient of -2.5.
        manual_seed(Environment.TickCount);
        Dictionary<string, Tensor> student = studentShapes.ToDictionary(kv => kv.Key, kv => rand(kv.Value).mul(4).sub(1));
        Dictionary<string, Tensor> teacher = teacherShapes.ToDictionary(kv => kv.Key, kv => rand(kv.Value).mul(2));
        Tensor logits = zeros(batch, 10), labels = zeros(new long[] { batch }, ScalarType.Int64);
        const double Upstream = -2.5;

        // The projected maps built in full in libtorch, in the given precision, and FSP over them, backward run.
        Reference BuildMaps(ScalarType type)
        {
            Dictionary<string, Tensor> inputs = student.ToDictionary(kv => kv.Key, kv => kv.Value.to_type(type).detach().clone().requires_grad_());
            // Each projection's parameters (leaves for their gradients) and buffers (batch_norm updates these copies).
            Dictionary<string, Tensor>?[] state = [.. projections.Select(p => p is null ? null
                : p.named_parameters().Select(e => (e.name, e.parameter.detach().to_type(type).clone().requires_grad_()))
                    .Concat(p.named_buffers().Select(e => (e.name, e.buffer.to_type(type).clone())))
                    .ToDictionary(e => e.name, e => e.Item2))];
            Tensor[] maps = [.. Enumerable.Range(0, 3).Select(i => state[i] is not { } p ? inputs[Layers[i]]
                : BatchNormReference.Apply(nn.functional.conv2d(inputs[Layers[i]], p["conv.weight"]),
                    p["norm.running_mean"], p["norm.running_var"], p["norm.weight"], p["norm.bias"], training))];
            Tensor loss = Fsp(maps[0], maps[1], teacher[Layers[0]].to_type(type), teacher[Layers[1]].to_type(type))
                .add(Fsp(maps[1], maps[2], teacher[Layers[1]].to_type(type), teacher[Layers[2]].to_type(type)));
            loss.backward([full(Array.Empty<long>(), Upstream, type)]);
            return new Reference(loss, inputs, state);
        }

        for (int step = 0; step < 2; step++)
        {
            // The references first, from the state before this step, in float64 and (for the tolerance) in float32.
            Reference expected = BuildMaps(ScalarType.Float64), rounded = BuildMaps(ScalarType.Float32);

            Dictionary<string, Tensor> leaves = student.ToDictionary(kv => kv.Key, kv => kv.Value.clone().requires_grad_());
            term.Adapter.zero_grad();
            Tensor loss = term.Compute(new TermInputs(logits, logits, labels, 0, 1, leaves, teacher));
            loss.backward([full(Array.Empty<long>(), Upstream)]);

            double expectedLoss = expected.Loss.item<double>();
            Assert.That(loss.item<float>(), Is.EqualTo(expectedLoss).Within(1e-5 * expectedLoss), $"loss, step {step}");
            Assert.That(expectedLoss, Is.GreaterThan(0), "a loss that can tell right from wrong");
            foreach (string layer in Layers)
                AssertClose(leaves[layer].grad!, expected.Inputs[layer].grad!, rounded.Inputs[layer].grad!, $"gradient of {layer}, step {step}");
            for (int i = 0; i < 3; i++)
            {
                if (projections[i] is not { } projection) continue;
                foreach ((string name, Parameter parameter) in projection.named_parameters())
                    AssertClose(parameter.grad!, expected.State[i]![name].grad!, rounded.State[i]![name].grad!, $"gradient of {Layers[i]}'s {name}, step {step}");
                foreach ((string name, Tensor buffer) in projection.named_buffers())
                {
                    // The reference does not count batches; the module counts each training call.
                    if (name.EndsWith("num_batches_tracked", StringComparison.Ordinal))
                        Assert.That(buffer.item<long>(), Is.EqualTo(training ? step + 1 : 0), $"{Layers[i]}'s batches counted after step {step}");
                    else
                        AssertClose(buffer, expected.State[i]![name], rounded.State[i]![name], $"{Layers[i]}'s {name} after step {step}");
                }
            }
        }
    }

    private sealed record Reference(Tensor Loss, Dictionary<string, Tensor> Inputs, Dictionary<string, Tensor>?[] State);

    /// <summary>FSP of one pair, in the inputs' precision: the larger map average-pooled to the smaller, flows over HW,
    /// mean squared difference.</summary>
    private static Tensor Fsp(Tensor studentBottom, Tensor studentTop, Tensor teacherBottom, Tensor teacherTop)
    {
        static Tensor Flow(Tensor bottom, Tensor top)
        {
            long h = Math.Min(bottom.shape[2], top.shape[2]), w = Math.Min(bottom.shape[3], top.shape[3]);
            Tensor b = nn.functional.adaptive_avg_pool2d(bottom, [h, w]).flatten(2);
            Tensor t = nn.functional.adaptive_avg_pool2d(top, [h, w]).flatten(2);
            return t.bmm(b.transpose(1, 2)).div(h * w);
        }
        return Flow(studentBottom, studentTop).sub(Flow(teacherBottom, teacherTop)).square().mean();
    }

    [Test]
    public void ANonFiniteStudentLayerIsNamed()
    {
        (Dictionary<string, long[]> studentShapes, Dictionary<string, long[]> teacherShapes) = Shapes(4, [8, 16, 32], [14, 7, 7]);
        using FlowMatrixTerm term = Term(studentShapes, teacherShapes);
        Dictionary<string, Tensor> student = studentShapes.ToDictionary(kv => kv.Key, kv => rand(kv.Value));
        Dictionary<string, Tensor> teacher = teacherShapes.ToDictionary(kv => kv.Key, kv => rand(kv.Value));
        student["stage1"][1, 2, 3, 4] = tensor(float.NaN);
        Tensor logits = zeros(4, 10), labels = zeros(new long[] { 4 }, ScalarType.Int64);
        ArgumentAssert.Rejects(() => term.Compute(new TermInputs(logits, logits, labels, 0, 1, student, teacher)), "studentBottom", "finite");
    }

    /// <summary>
    /// Within 5e-4 of the largest float64 entry (1e-7 where that is 0), or within four times what the same maps built in
    /// float32 err by, where that is more. The loose end is for few values a channel (a batch of 3 at 1x1), where batch
    /// norm divides by the spread of three numbers and the float32 flows moved the gradients by up to 2.5e-4 of their
    /// largest entry; the other cases stay within 1e-5.
    /// </summary>
    private static void AssertClose(Tensor actual, Tensor expected, Tensor float32Reference, string what)
    {
        (double error, double scale) = Tolerance.MaxError(actual, expected);
        double referenceError = Tolerance.MaxError(float32Reference, expected).Error;
        double tolerance = Math.Max(5e-4 * scale, 4 * referenceError) + 1e-7;
        Assert.That(error, Is.LessThanOrEqualTo(tolerance),
            $"{what}: max error {error:G3} against max |expected| {scale:G3} (float32 maps err by {referenceError:G3})");
    }
}
