using GpuDistill.Training;

namespace GpuDistill.Tests.Experiments;

public sealed class LossCatalogTests
{
    [Test]
    public void ParsesWeightedNamedTerms()
    {
        WeightedLoss loss = LossCatalog.Parse("kd:0.9, ce:0.1", new LossSettings());
        Assert.That(loss.Terms.Select(t => (t.Term.Name, t.Weight)), Is.EqualTo(new[] { ("kd", 0.9), ("ce", 0.1) }));
        Assert.That(loss.ToString(), Is.EqualTo("kd:0.9,ce:0.1"));
        Assert.That(loss.NeedsTeacher, Is.True);
    }

    [Test]
    public void BareNameHasWeightOne() =>
        Assert.That(LossCatalog.Parse("ce", new LossSettings()).Terms.Single().Weight, Is.EqualTo(1));

    [Test]
    public void EveryBuiltInMethodParses()
    {
        foreach (string method in LossCatalog.Methods.Keys)
            Assert.That(() => LossCatalog.ForMethod(method, new LossSettings()), Throws.Nothing, method);
    }

    [Test]
    public void UnknownTermListsTheKnownOnes()
    {
        var ex = Assert.Throws<ArgumentException>(() => LossCatalog.Parse("kd:1,foo:2", new LossSettings()));
        Assert.That(ex!.Message, Does.Contain("foo").And.Contain("reverse-kl"));
    }

    [Test]
    public void DuplicateTermIsRejected() =>
        Assert.Throws<ArgumentException>(() => LossCatalog.Parse("kd:1,kd:2", new LossSettings()));

    [Test]
    public void NegativeWeightIsRejected() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => LossCatalog.Parse("kd:-1", new LossSettings()));
}
