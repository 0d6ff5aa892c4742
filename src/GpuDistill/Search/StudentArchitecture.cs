using System.Globalization;
using System.Text.RegularExpressions;
using GpuDistill.Models;

namespace GpuDistill.Search;

/// <summary>The model families the student search draws from.</summary>
public enum ArchitectureFamily
{
    /// <summary>Staged CNNs (<see cref="SearchedCnn"/>): per-stage widths, depths and kernel sizes.</summary>
    Cnn,

    /// <summary>Two-hidden-layer MLPs (<see cref="Mlp"/>): the hidden widths.</summary>
    Mlp,
}

/// <summary>
/// One student architecture of the search space, with a name that <see cref="ModelFactory.Create"/> understands:
/// <c>cnn-W1xD1kK1-W2xD2kK2-W3xD3kK3</c> (stage widths, depths, kernel sizes; e.g. <c>cnn-8x2k3-16x2k3-32x2k3</c>
/// is small-cnn's shape) or <c>mlp-H1-H2</c> (e.g. <c>mlp-64-64</c>).
/// </summary>
/// <param name="Family">CNN or MLP.</param>
/// <param name="Widths">Stage widths (CNN, three) or hidden widths (MLP, two).</param>
/// <param name="Depths">Convolutions per stage (CNN); empty for an MLP.</param>
/// <param name="Kernels">Kernel size per stage (CNN); empty for an MLP.</param>
public sealed partial record StudentArchitecture(ArchitectureFamily Family, IReadOnlyList<int> Widths, IReadOnlyList<int> Depths,
    IReadOnlyList<int> Kernels)
{
    /// <summary>The factory name.</summary>
    public string Name => Family == ArchitectureFamily.Mlp
        ? string.Create(CultureInfo.InvariantCulture, $"mlp-{Widths[0]}-{Widths[1]}")
        : string.Join('-', ["cnn", .. Enumerable.Range(0, 3).Select(i => string.Create(CultureInfo.InvariantCulture, $"{Widths[i]}x{Depths[i]}k{Kernels[i]}"))]);

    /// <summary>A CNN.</summary>
    public static StudentArchitecture Cnn(IReadOnlyList<int> widths, IReadOnlyList<int> depths, IReadOnlyList<int> kernels) =>
        new(ArchitectureFamily.Cnn, widths, depths, kernels);

    /// <summary>An MLP.</summary>
    public static StudentArchitecture Mlp(int hidden1, int hidden2) => new(ArchitectureFamily.Mlp, [hidden1, hidden2], [], []);

    /// <summary>Reads a name written by <see cref="Name"/>; null when <paramref name="name"/> is not one.</summary>
    public static StudentArchitecture? TryParse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        Match cnn = CnnPattern().Match(name.Trim());
        if (cnn.Success)
        {
            int[] Group(string g) => [.. cnn.Groups[g].Captures.Select(c => int.Parse(c.Value, CultureInfo.InvariantCulture))];
            return Cnn(Group("w"), Group("d"), Group("k"));
        }
        Match mlp = MlpPattern().Match(name.Trim());
        return mlp.Success
            ? Mlp(int.Parse(mlp.Groups[1].Value, CultureInfo.InvariantCulture), int.Parse(mlp.Groups[2].Value, CultureInfo.InvariantCulture))
            : null;
    }

    /// <summary>Whether <see cref="Create"/> builds it: every width and depth positive, every kernel size odd and
    /// positive (a name such as <c>cnn-8x1k4-8x1k3-8x1k3</c> parses but does not build).</summary>
    public bool CanBuild => Widths.All(w => w > 0) && Depths.All(d => d > 0) && Kernels.All(k => k > 0 && k % 2 == 1);

    /// <summary>Builds the model with weights drawn from <paramref name="seed"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A width or depth of 0, an even kernel size.</exception>
    public DistillModel Create(long seed) => Family == ArchitectureFamily.Mlp
        ? new Models.Mlp(seed, Widths[0], Widths[1], Name)
        : new SearchedCnn(Name, Widths, Depths, Kernels, seed);

    /// <summary>Parameters of the model (counted on a built copy).</summary>
    public long ParameterCount()
    {
        using DistillModel model = Create(0);
        return model.ParameterCount;
    }

    /// <inheritdoc/>
    public bool Equals(StudentArchitecture? other) => other is not null && other.Name == Name;

    /// <inheritdoc/>
    public override int GetHashCode() => Name.GetHashCode(StringComparison.Ordinal);

    /// <inheritdoc/>
    public override string ToString() => Name;

    [GeneratedRegex(@"^cnn(?:-(?<w>\d{1,4})x(?<d>\d{1,2})k(?<k>\d{1,2})){3}$")]
    private static partial Regex CnnPattern();

    [GeneratedRegex(@"^mlp-(\d{1,5})-(\d{1,5})$")]
    private static partial Regex MlpPattern();
}
