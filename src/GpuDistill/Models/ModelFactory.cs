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
    /// Adds the searched architectures named in <paramref name="names"/> (shapes such as <c>cnn-8x2k3-16x1k5-32x2k3</c>,
    /// <see cref="Search.StudentArchitecture"/>) to <see cref="Names"/>, so a recipe naming them passes the recipe's
    /// checks; other names are left alone (the checks report them).
    /// </summary>
    /// <param name="names">Model names, e.g. a recipe's students.</param>
    public static void RegisterSearched(IEnumerable<string> names)
    {
        ArgumentNullException.ThrowIfNull(names);
        foreach (string name in names)
        {
            if (name is null || Search.StudentArchitecture.TryParse(name) is not { } architecture) continue;
            lock (Gate) Builders.TryAdd(architecture.Name, architecture.Create);
        }
    }

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
        return Search.StudentArchitecture.TryParse(name)?.Create(seed)
            ?? throw new ArgumentException(
                $"Unknown model '{name}'; valid names: {string.Join(", ", Names)}, or a searched shape such as cnn-8x2k3-16x2k3-32x2k3 or mlp-64-64.",
                nameof(name));
    }
}
