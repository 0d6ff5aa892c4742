namespace GpuDistill.Experiments.Schemes;

/// <summary>The training schemes by name, for <c>--scheme</c> and recipes.</summary>
public static class SchemeCatalog
{
    /// <summary>The known scheme names.</summary>
    public static IReadOnlyList<string> Names { get; } = ["dml", "byot", "born-again", "takd", "multi-teacher"];

    /// <summary>Creates the scheme <paramref name="name"/> with <paramref name="settings"/>.</summary>
    /// <param name="name">One of <see cref="Names"/>.</param>
    /// <param name="settings">The recipe's scheme settings.</param>
    /// <returns>The scheme.</returns>
    public static IScheme Create(string name, SchemeSection settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return name switch
        {
            "dml" => new MutualLearningScheme(settings.Peers),
            "byot" => new SelfDistillationScheme(),
            "born-again" => new BornAgainScheme(settings.Generations),
            "takd" => new TeacherAssistantScheme(settings.Assistant),
            "multi-teacher" => new MultiTeacherScheme(settings.ExtraTeachers, settings.TeacherWeighting),
            _ => throw new ArgumentException($"Unknown scheme '{name}'; known: {string.Join(", ", Names)}.", nameof(name)),
        };
    }
}
