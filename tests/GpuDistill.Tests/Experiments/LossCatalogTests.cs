using GpuDistill.Methods;
using GpuDistill.Training;

namespace GpuDistill.Tests.Experiments;

public sealed class LossCatalogTests
{
    [Test]
    public void ParsesWeightedNamedTerms()
    {
        WeightedLoss loss = WeightedLoss.Parse("kd:0.9, ce:0.1");
        Assert.That(loss.Terms.Select(t => (t.Term.Name, t.Weight)), Is.EqualTo(new[] { ("kd", 0.9), ("ce", 0.1) }));
        Assert.That(loss.ToString(), Is.EqualTo("kd:0.9,ce:0.1"));
        Assert.That(loss.NeedsTeacher, Is.True);
    }

    [Test]
    public void BareNameHasWeightOne() =>
        Assert.That(WeightedLoss.Parse("ce").Terms.Single().Weight, Is.EqualTo(1));

    [Test]
    public void EveryBuiltInMethodParses()
    {
        foreach (string method in MethodRegistry.Default.Methods.Select(m => m.Name))
            Assert.That(() => WeightedLoss.ForMethod(method), Throws.Nothing, method);
    }

    [Test]
    public void UnknownTermListsTheKnownOnes()
    {
        var ex = Assert.Throws<ArgumentException>(() => WeightedLoss.Parse("kd:1,foo:2"));
        Assert.That(ex!.Message, Does.Contain("foo").And.Contain("reverse-kl"));
    }

    [Test]
    public void DuplicateTermIsRejected() =>
        Assert.Throws<ArgumentException>(() => WeightedLoss.Parse("kd:1,kd:2"));

    [Test]
    public void NegativeWeightIsRejected() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => WeightedLoss.Parse("kd:-1"));
}
