using System.Text.RegularExpressions;

namespace GpuDistill.Cli;

/// <summary>Turns an exception into the one sentence a user reads: no .NET suffixes, and the option named.</summary>
internal static partial class UserMessages
{
    /// <summary>The message of <paramref name="error"/> as the command line shows it.</summary>
    /// <param name="error">The exception.</param>
    /// <param name="args">The command line, to find the option a bad value belongs to.</param>
    /// <returns>The sentence.</returns>
    public static string For(Exception error, IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(error);
        ArgumentNullException.ThrowIfNull(args);
        // .NET appends " (Parameter 'name')" to argument exceptions; the messages already name what is wrong.
        string message = error.Message.Split(" (Parameter '")[0];
        Match bad = NotAValidValue().Match(message);
        if (!bad.Success) return message;

        // Spectre's conversion error names neither the option nor what it wanted.
        string value = bad.Groups["value"].Value;
        string option = "an option";
        for (int i = 0; i < args.Count; i++)
        {
            if (args[i] == value && i > 0 && args[i - 1].StartsWith('-')) option = args[i - 1];
            else if (args[i].StartsWith('-') && args[i].EndsWith("=" + value, StringComparison.Ordinal)) option = args[i].Split('=')[0];
        }
        string wanted = bad.Groups["type"].Value switch
        {
            "Int32" or "Int64" => "a whole number",
            "Double" or "Single" => "a number",
            "Boolean" => "true or false",
            string other => "a value of type " + other,
        };
        return $"{option}: '{value}' is not {wanted}.";
    }

    [GeneratedRegex(@"^(?<value>.*) is not a valid value for (?<type>\w+)\.$")]
    private static partial Regex NotAValidValue();
}
