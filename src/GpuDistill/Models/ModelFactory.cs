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
    /// <c>"cnn-w12"</c> and <c>"cnn-w24"</c> (<see cref="ScaledCnn"/>).
    /// </summary>
    public static IReadOnlyList<string> Names { get; } = [.. Builders.Keys];

    /// <summary>Builds the named architecture with weights drawn only from <paramref name="seed"/>.</summary>
    /// <param name="name">One of <see cref="Names"/>, case-insensitive.</param>
    /// <param name="seed">Seed of the weight initialisation: the same seed gives the same weights.</param>
    /// <returns>A new model in training mode, owned by the caller (dispose it).</returns>
    /// <exception cref="ArgumentException">Unknown name; the message lists the valid ones.</exception>
    public static DistillModel Create(string name, long seed)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (!Builders.TryGetValue(name.Trim(), out Func<long, DistillModel>? build))
            throw new ArgumentException($"Unknown model '{name}'; valid names: {string.Join(", ", Names)}.", nameof(name));
        return build(seed);
    }
}
