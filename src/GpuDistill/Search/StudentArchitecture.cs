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
/// is small-cnn's shape; <c>s</c> in place of <c>k</c> makes a stage's blocks depthwise-separable, e.g.
/// <c>cnn-12x2k3-24x2k3-72x2s3</c>) or <c>mlp-H1-H2</c> (e.g. <c>mlp-64-64</c>).
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
        : string.Join('-', ["cnn", .. Enumerable.Range(0, 3).Select(i =>
            string.Create(CultureInfo.InvariantCulture, $"{Widths[i]}x{Depths[i]}{(IsSeparable(i) ? 's' : 'k')}{Kernels[i]}"))]);

    /// <summary>Per stage of a CNN, whether its blocks are depthwise-separable (a depthwise k x k and a pointwise 1x1
    /// convolution each); empty for none, and for an MLP.</summary>
    public IReadOnlyList<bool> Separable { get; init; } = [];

    /// <summary>Whether stage <paramref name="stage"/> (0-based) is depthwise-separable.</summary>
    public bool IsSeparable(int stage) => stage < Separable.Count && Separable[stage];

    /// <summary>A CNN.</summary>
    /// <param name="widths">Stage widths (three).</param>
    /// <param name="depths">Blocks per stage (three).</param>
    /// <param name="kernels">Kernel size per stage (three, odd).</param>
    /// <param name="separable">Per stage, whether its blocks are depthwise-separable; null for none.</param>
    public static StudentArchitecture Cnn(IReadOnlyList<int> widths, IReadOnlyList<int> depths, IReadOnlyList<int> kernels,
        IReadOnlyList<bool>? separable = null) =>
        new(ArchitectureFamily.Cnn, widths, depths, kernels) { Separable = separable is not null && separable.Any(x => x) ? [.. separable] : [] };

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
            return Cnn(Group("w"), Group("d"), Group("k"), [.. cnn.Groups["t"].Captures.Select(c => c.Value == "s")]);
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
        : new SearchedCnn(Name, Widths, Depths, Kernels, seed, Enumerable.Range(0, 3).Select(IsSeparable).ToArray());

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

    [GeneratedRegex(@"^cnn(?:-(?<w>\d{1,4})x(?<d>\d{1,2})(?<t>[ks])(?<k>\d{1,2})){3}$")]
    private static partial Regex CnnPattern();

    [GeneratedRegex(@"^mlp-(\d{1,5})-(\d{1,5})$")]
    private static partial Regex MlpPattern();
}
