using System.Globalization;

namespace GpuDistill.GpuBench;

/// <summary>One benchmark shape: B rows of C classes.</summary>
/// <param name="Rows">B.</param>
/// <param name="Classes">C.</param>
public sealed record BenchSize(int Rows, int Classes)
{
    /// <summary>
    /// The default sweep, from a classification batch to an LLM vocabulary: 16384 x 131072 is 2^31 elements, 8.6 GB per
    /// float32 array, past int.MaxValue bytes and elements alike.
    /// </summary>
    public static IReadOnlyList<BenchSize> Default { get; } =
    [
        new(4096, 1000), new(256, 32000), new(64, 128256), new(4096, 32000),
        new(16384, 32000), new(4096, 131072), new(16384, 131072),
    ];

    /// <summary>The sweep of <c>--quick</c>: the default without its three biggest sizes (1.6 GB per array and up).</summary>
    public static IReadOnlyList<BenchSize> Quick { get; } = [.. Default.Where(s => s.Elements < 500_000_000L)];

    /// <summary>B * C.</summary>
    public long Elements => (long)Rows * Classes;

    /// <summary>Parses "BxC[,BxC...]".</summary>
    /// <param name="text">The list.</param>
    /// <param name="argumentName">The option it came from, named in the error.</param>
    /// <returns>The sizes, in the order given.</returns>
    /// <exception cref="ArgumentException">When an entry is not two positive integers joined by 'x'.</exception>
    public static IReadOnlyList<BenchSize> ParseList(string text, string argumentName)
    {
        ArgumentNullException.ThrowIfNull(text);
        var sizes = new List<BenchSize>();
        foreach (string entry in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string[] parts = entry.Split('x', 'X');
            if (parts.Length != 2
                || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int rows)
                || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int classes)
                || rows <= 0 || classes <= 0)
            {
                throw new ArgumentException(
                    $"{argumentName}: '{entry}' is not a size; expected ROWSxCLASSES with positive integers, e.g. 4096x32000.",
                    argumentName);
            }
            sizes.Add(new BenchSize(rows, classes));
        }
        if (sizes.Count == 0)
            throw new ArgumentException($"{argumentName}: no sizes given; expected e.g. 4096x1000,16384x131072.", argumentName);
        return sizes;
    }

    /// <inheritdoc/>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Rows}x{Classes}");
}
