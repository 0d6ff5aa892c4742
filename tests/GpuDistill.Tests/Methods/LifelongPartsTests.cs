using GpuDistill.Methods;
using GpuDistill.Tests.Generic;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Methods;

/// <summary>
/// The parts of the lifelong scheme that need no training: the task split and its bad inputs, the settings' errors
/// as the recipe and <c>--set</c> report them, the memory check, herding, the continual metrics and the two loss
/// terms against hand-written formulas.
/// </summary>
public sealed class LifelongPartsTests
{
    [Test]
    public void TheNaturalSplitCutsTheClassOrderIntoEqualTasksAndAShuffleDependsOnlyOnTheSeed()
    {
        TaskSplit split = TaskSplit.Create(10, 5);
        Assert.That(split.ToString(), Is.EqualTo("{0,1} {2,3} {4,5} {6,7} {8,9}"));
        Assert.That(split.SeenClasses(2), Is.EqualTo(new[] { 0, 1, 2, 3, 4, 5 }));
        Assert.That(split.TaskOf(7), Is.EqualTo(3));

        TaskSplit a = TaskSplit.Create(10, 5, shuffleSeed: 1), again = TaskSplit.Create(10, 5, shuffleSeed: 1), b = TaskSplit.Create(10, 5, shuffleSeed: 2);
        Assert.That(again.ClassOrder, Is.EqualTo(a.ClassOrder));
        Assert.That(b.ClassOrder, Is.Not.EqualTo(a.ClassOrder));
        Assert.That(a.ClassOrder.Order(), Is.EqualTo(Enumerable.Range(0, 10)));
    }

    [Test]
    public void ASplitThatLeavesOutOrRepeatsAClassIsRejectedNamingTheSetting()
    {
        ArgumentAssert.Rejects(() => TaskSplit.Create(10, 5, [0, 1, 2, 3, 4, 5, 6, 7, 8, 8]), "classOrder", "repeats class 8");
        ArgumentAssert.Rejects(() => TaskSplit.Create(10, 5, [0, 1, 2, 3, 4, 5, 6, 7, 8]), "classOrder", "leaves out class(es) 9");
        ArgumentAssert.Rejects(() => TaskSplit.Create(10, 5, [0, 1, 2, 3, 4, 5, 6, 7, 8, 10]), "classOrder", "names class 10");
        ArgumentAssert.Rejects(() => TaskSplit.Create(10, 3), "tasks", "divide the 10 classes");

        // The same errors through the recipe's settings (and so through --set lifelong.KEY=VALUE).
        ArgumentAssert.Rejects(() => MethodSettingsMap.Defaults.Set("lifelong", "classOrder", "[0,1,2,3,4,5,6,7,8,8]").Validate(),
            "settings.lifelong.classOrder", "repeats class 8");
        ArgumentAssert.Rejects(() => MethodSettingsMap.Defaults.Set("lifelong", "classOrder", "[9,8,7,6,5,4,3,2,1]").Validate(),
            "settings.lifelong.classOrder", "leaves out class(es) 0");
        ArgumentAssert.Rejects(() => MethodSettingsMap.Defaults.Set("lifelong", "tasks", "3").Validate(), "settings.lifelong.tasks", "divide the 10 classes");
        ArgumentAssert.Rejects(() => MethodSettingsMap.Defaults.Set("lifelong", "methods", "[\"lwf\",\"ewc\"]").Validate(), "settings.lifelong.methods", "'ewc' is none of them");
        ArgumentAssert.Rejects(() => MethodSettingsMap.Defaults.Set("lifelong", "memory", "0").Validate(), "settings.lifelong.memory", "1 or more");
        ArgumentAssert.Rejects(() => MethodSettingsMap.Defaults.Set("lifelong", "warmupLearningRate", "0").Validate(), "settings.lifelong.warmupLearningRate", "finite and > 0");
        Assert.That(MethodSettingsMap.Defaults.Set("lifelong", "warmupLearningRate", "0.002").Get<LifelongSettings>("lifelong").WarmupLearningRate, Is.EqualTo(0.002));

        LifelongSettings set = MethodSettingsMap.Defaults.Set("lifelong", "tasks", "2").Set("lifelong", "memory", "500").Get<LifelongSettings>("lifelong");
        Assert.That((set.Tasks, set.Memory), Is.EqualTo((2, 500)));
    }

    [Test]
    public void AMemoryLargerThanTheDataIsRejectedWithTheLargestThatFits()
    {
        TaskSplit split = TaskSplit.Create(10, 5);
        int[] perClass = [.. Enumerable.Repeat(600, 10)];
        Assert.DoesNotThrow(() => ExemplarMemory.RequireFits(1200, split, perClass));
        // 2,000 exemplars over the 2 classes of task 1 is 1,000 per class; the embedded subset has 600.
        ArgumentAssert.Rejects(() => ExemplarMemory.RequireFits(2000, split, perClass), "memory", "can be 1200 at most");
        Assert.That(ExemplarMemory.Share(2000, 6), Is.EqualTo(334));
    }

    [Test]
    public void HerdingPicksTheImageNearestTheMeanFirstAndItsPrefixesTrackTheMean()
    {
        var random = RandomData.NewRandom();
        const int images = 200, picks = 20;
        float[][] features = [.. Enumerable.Range(0, images).Select(_ => Enumerable.Range(0, 8).Select(_ => (float)(random.NextDouble() + 0.2)).ToArray())];
        double[][] unit = [.. features.Select(f => Unit(f))];
        double[] mean = [.. Enumerable.Range(0, 8).Select(k => unit.Average(u => u[k]))];
        IReadOnlyList<int> ranked = Herding.Rank(features, picks, 1000);

        Assert.That(ranked, Has.Count.EqualTo(picks));
        Assert.That(ranked.Distinct().Count(), Is.EqualTo(picks));
        int nearest = Enumerable.Range(0, images).MaxBy(i => unit[i].Zip(mean).Sum(p => p.First * p.Second));
        Assert.That(ranked[0], Is.EqualTo(nearest), "the first pick has the largest dot product with the mean");
        // The picks' mean lies closer to the class mean than a random subset of as many images does on average:
        // E||mean of n of N - mean||^2 = s2 / n (N - n) / (N - 1), s2 the images' mean squared distance to the mean.
        // Herding's distance shrinks as 1/n, a random subset's as 1/sqrt(n); at 20 of 200 the ratio stayed below 0.74
        // in 3,000 simulated draws (median 0.34), so this cannot fail by chance the way a comparison with one
        // particular subset (the first 20 images) could.
        double spread = unit.Average(u => u.Zip(mean).Sum(p => (p.First - p.Second) * (p.First - p.Second)));
        double randomSubset = Math.Sqrt(spread / picks * (images - picks) / (images - 1));
        Assert.That(Distance(mean, ranked), Is.LessThan(randomSubset));

        Assert.That(Herding.Rank(features, 10, 3), Has.Count.LessThanOrEqualTo(3), "the tries bound the picks");

        double Distance(double[] target, IReadOnlyList<int> chosen) =>
            Math.Sqrt(Enumerable.Range(0, 8).Sum(k => Math.Pow(chosen.Average(i => unit[i][k]) - target[k], 2)));
    }

    private static double[] Unit(float[] v)
    {
        double norm = Math.Sqrt(v.Sum(x => (double)x * x));
        return [.. v.Select(x => x / norm)];
    }

    [Test]
    public void TheMetricsFollowTheirDefinitionsOnAHandMadeMatrix()
    {
        double[,] a = { { 0.9, 0.5, 0.1 }, { 0.7, 0.8, 0.2 }, { 0.6, 0.7, 0.9 } };
        Assert.That(ContinualMetrics.AverageAccuracy(a, 2), Is.EqualTo((0.6 + 0.7 + 0.9) / 3).Within(1e-12));
        Assert.That(ContinualMetrics.AverageAccuracy(a, 1), Is.EqualTo((0.7 + 0.8) / 2).Within(1e-12));
        // f_1 = max(0.9, 0.7) - 0.6, f_2 = 0.8 - 0.7.
        Assert.That(ContinualMetrics.Forgetting(a, 2), Is.EqualTo((0.3 + 0.1) / 2).Within(1e-12));
        Assert.That(ContinualMetrics.Forgetting(a, 0), Is.Zero);
        Assert.That(ContinualMetrics.BackwardTransfer(a), Is.EqualTo(((0.6 - 0.9) + (0.7 - 0.8)) / 2).Within(1e-12));
        Assert.That(ContinualMetrics.ForwardTransfer(a, [0.5, 0.5, 0.5]), Is.EqualTo(((0.5 - 0.5) + (0.2 - 0.5)) / 2).Within(1e-12));

        SequenceResult r = SequenceResult.Of("task", "lwf", "outputs", 1, "{0,1} {2,3} {4,5}", [[0.9, 0.5, 0.1], [0.7, 0.8, 0.2], [0.6, 0.7, 0.9]], [0.5, 0.5, 0.5], 1, "ce:1");
        Assert.That((r.AverageAccuracy, r.Forgetting), Is.EqualTo((ContinualMetrics.AverageAccuracy(a, 2), ContinualMetrics.Forgetting(a, 2))));
        Assert.That(r.Label, Is.EqualTo("task-IL, LwF"));
    }

    [Test]
    public void GroupedCrossEntropyIsTheCrossEntropyOverEachLabelsOwnGroup()
    {
        var random = RandomData.NewRandom();
        float[] values = [.. Enumerable.Range(0, 4 * 10).Select(_ => (float)(random.NextDouble() * 6 - 3))];
        int[] labels = [1, 2, 3, 0];
        IReadOnlyList<IReadOnlyList<int>> groups = [[0, 1], [2, 3]];
        using Tensor logits = TensorData.Matrix(values, 4, 10, requiresGrad: true);
        using Tensor loss = new GroupedCrossEntropyTerm(groups, 10).Compute(new TermInputs(logits, null, TensorData.Labels(labels), 0, 1));
        loss.mul(2.5).backward();

        double expected = 0;
        var gradient = new double[40];
        for (int i = 0; i < 4; i++)
        {
            int[] group = labels[i] < 2 ? [0, 1] : [2, 3];
            double lse = Math.Log(group.Sum(c => Math.Exp(values[i * 10 + c])));
            expected += (lse - values[i * 10 + labels[i]]) / 4;
            foreach (int c in group) gradient[i * 10 + c] = 2.5 / 4 * (Math.Exp(values[i * 10 + c] - lse) - (c == labels[i] ? 1 : 0));
        }
        Assert.That(loss.item<float>(), Is.EqualTo(expected).Within(1e-5));
        float[] actual = TensorData.ToArray(logits.grad!);
        for (int k = 0; k < 40; k++) Assert.That(actual[k], Is.EqualTo(gradient[k]).Within(1e-5), $"gradient {k}");

        using Tensor outside = TensorData.Matrix(values, 4, 10);
        Assert.Throws<InvalidOperationException>(() => new GroupedCrossEntropyTerm(groups, 10).Compute(new TermInputs(outside, null, TensorData.Labels([0, 1, 2, 7]), 0, 1)));
    }

    [Test]
    public void OldClassDistillationHasLwFsGradientOnTheOldClassesAndNoneElsewhere()
    {
        var random = RandomData.NewRandom();
        const int rows = 3, classes = 10;
        const double t = 2.0;
        float[] s = [.. Enumerable.Range(0, rows * classes).Select(_ => (float)(random.NextDouble() * 8 - 4))];
        float[] z = [.. Enumerable.Range(0, rows * classes).Select(_ => (float)(random.NextDouble() * 8 - 4))];
        IReadOnlyList<IReadOnlyList<int>> groups = [[0, 1], [2, 3]];
        using Tensor student = TensorData.Matrix(s, rows, classes, requiresGrad: true);
        using Tensor teacher = TensorData.Matrix(z, rows, classes);
        using Tensor loss = new OldClassDistillationTerm("lwf", groups, t).Compute(new TermInputs(student, teacher, TensorData.Labels([4, 5, 4]), 0, 1));
        loss.mul(2.5).backward();

        float[] actual = TensorData.ToArray(student.grad!);
        for (int i = 0; i < rows; i++)
        {
            for (int c = 0; c < classes; c++)
            {
                int[]? group = groups.Select(g => g.ToArray()).FirstOrDefault(g => g.Contains(c));
                double expected = 0;
                if (group is not null)
                {
                    double q = Math.Exp(s[i * classes + c] / t) / group.Sum(k => Math.Exp(s[i * classes + k] / t));
                    double p = Math.Exp(z[i * classes + c] / t) / group.Sum(k => Math.Exp(z[i * classes + k] / t));
                    // loss-spec-2 10.1: (softmax(z/T) - c)/T per row, batch mean; times the upstream 2.5.
                    expected = 2.5 * (q - p) / t / rows;
                }
                Assert.That(actual[i * classes + c], Is.EqualTo(expected).Within(1e-5), $"row {i}, class {c}");
            }
        }
    }
}
