namespace GpuDistill.Tests.Generic;

/// <summary>Bad-input assertions: the exception is an ArgumentException that names the argument and the rule.</summary>
public static class ArgumentAssert
{
    public static void Rejects(Action call, string argument, string expectedText)
    {
        var ex = Assert.Catch<ArgumentException>(call);
        Assert.Multiple(() =>
        {
            Assert.That(ex!.ParamName, Is.EqualTo(argument), ex.Message);
            Assert.That(ex.Message, Does.Contain(expectedText).IgnoreCase);
        });
    }
}
