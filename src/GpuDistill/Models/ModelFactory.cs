namespace GpuDistill.Models;

/// <summary>Creates the models of the zoo by name, so configurations and command lines can name them.</summary>
public static class ModelFactory
{
    private static readonly Dictionary<string, Func<long, DistillModel>> Builders =
        new(StringComparer.OrdinalIgnoreCase)
        {
            [TeacherCnn.ArchitectureName] = seed => new TeacherCnn(seed),
            [MidCnn.ArchitectureName] = seed => new MidCnn(seed),
            [SmallCnn.ArchitectureName] = seed => new SmallCnn(seed),
            [Mlp.ArchitectureName] = seed => new Mlp(seed),
            [ScaledCnn.Width12Name] = seed => new ScaledCnn(ScaledCnn.Width12Name, 12, dropout: 0.0, seed),
            [ScaledCnn.Width24Name] = seed => new ScaledCnn(ScaledCnn.Width24Name, 24, dropout: 0.2, seed),
        };

    /// <summary>
    /// The valid names: <c>"teacher-cnn"</c>, <c>"mid-cnn"</c>, <c>"small-cnn"</c>, <c>"mlp"</c>, and the sweep sizes
    /// <c>"cnn-w12"</c> and <c>"cnn-w24"</c> (<see cref="ScaledCnn"/>). <see cref="Create"/> also builds the student
    /// search's architectures by their names (<see cref="Search.StudentArchitecture"/>: <c>cnn-8x2k3-16x1k5-32x2k3</c>,
    /// <c>mlp-128-32</c>).
    /// </summary>
    public static IReadOnlyList<string> Names
    {
        get
        {
            lock (Gate) return [.. Builders.Keys];
        }
    }

    private static readonly Lock Gate = new();

    /// <summary>
    /// Whether <see cref="Create"/> builds <paramref name="name"/>: one of <see cref="Names"/> (case-insensitive) or a
    /// searched shape (<see cref="Search.StudentArchitecture"/>, e.g. <c>cnn-8x2k3-16x1k5-32x2k3</c>, <c>mlp-64-64</c>).
    /// </summary>
    /// <param name="name">A model name.</param>
    /// <returns>True when it names an architecture.</returns>
    public static bool IsKnown(string? name)
    {
        if (string.IsNullOrWhiteSpace(name)) return false;
        lock (Gate)
        {
            if (Builders.ContainsKey(name.Trim())) return true;
        }
        // A shape that parses but cannot be built (a width of 0, an even kernel) is not known either.
        return Search.StudentArchitecture.TryParse(name) is { CanBuild: true };
    }

    /// <summary>The message of an unknown model name: the valid names and the searched shapes' form.</summary>
    /// <param name="name">The name given.</param>
    /// <returns>The message.</returns>
    public static string UnknownMessage(string? name) =>
        $"unknown model '{name}'; valid names: {string.Join(", ", Names)}, or a searched shape such as cnn-8x2k3-16x2k3-32x2k3 or mlp-64-64.";

    /// <summary>Builds the named architecture with weights drawn only from <paramref name="seed"/>.</summary>
    /// <param name="name">One of <see cref="Names"/>, case-insensitive.</param>
    /// <param name="seed">Seed of the weight initialisation: the same seed gives the same weights.</param>
    /// <returns>A new model in training mode, owned by the caller (dispose it).</returns>
    /// <exception cref="ArgumentException">Unknown name; the message lists the valid ones.</exception>
    public static DistillModel Create(string name, long seed)
    {
        ArgumentNullException.ThrowIfNull(name);
        Func<long, DistillModel>? build;
        lock (Gate) Builders.TryGetValue(name.Trim(), out build);
        if (build is not null) return build(seed);
        if (Search.StudentArchitecture.TryParse(name) is { } shape) return shape.Create(seed);
        string message = UnknownMessage(name);
        throw new ArgumentException(char.ToUpperInvariant(message[0]) + message[1..], nameof(name));
    }
}
