namespace GpuDistill.Methods;

/// <summary>A built-in method: a name (as in <c>--method</c>) and its weighted terms, e.g. kd = kd:0.9,ce:0.1.</summary>
/// <param name="Name">The method's name.</param>
/// <param name="Loss">Its weighted terms.</param>
public sealed record BuiltInMethod(string Name, string Loss)
{
    /// <summary>What <c>compare --tune</c> tries on the validation split (the default loss and settings, and variations
    /// of its weights and temperature around the reference codes'); empty for nothing to tune.</summary>
    public IReadOnlyList<GridPoint> Grid { get; init; } = [];
}

/// <summary>
/// What a loss term's file declares about it: its name (as written in a loss spec), a one-line help, its typed
/// settings with their defaults, how to create it, and the built-in methods it stands for.
/// </summary>
/// <param name="Name">The term's name, e.g. "kd".</param>
/// <param name="Help">One line: what it is, its paper, its default layers where it reads layers.</param>
/// <param name="DefaultSettings">Its settings with their defaults (their type is the term's settings type).</param>
/// <param name="Create">Creates a term from settings of that type.</param>
/// <param name="Methods">The built-in methods it stands for (most terms one, named like the term); none for a term
/// only schemes use.</param>
public sealed record TermInfo(string Name, string Help, MethodSettings DefaultSettings, Func<MethodSettings, ILossTerm> Create,
    IReadOnlyList<BuiltInMethod> Methods)
{
    /// <summary>Describes a term with settings of type <typeparamref name="TSettings"/>.</summary>
    /// <typeparam name="TSettings">The term's settings record.</typeparam>
    /// <param name="name">The term's name.</param>
    /// <param name="help">One line of help.</param>
    /// <param name="create">Creates the term.</param>
    /// <param name="methods">The built-in methods it stands for.</param>
    /// <returns>The description.</returns>
    public static TermInfo Of<TSettings>(string name, string help, Func<TSettings, ILossTerm> create, params BuiltInMethod[] methods)
        where TSettings : MethodSettings, new() =>
        new(name, help, new TSettings(), s => create((TSettings)s), methods);
}

/// <summary>What a scheme's file declares about it (see <see cref="TermInfo"/>).</summary>
/// <param name="Name">The scheme's name, as in <c>--scheme</c>.</param>
/// <param name="Help">One line of help.</param>
/// <param name="DefaultSettings">Its settings with their defaults.</param>
/// <param name="Create">Creates the scheme from settings of that type.</param>
public sealed record SchemeInfo(string Name, string Help, MethodSettings DefaultSettings, Func<MethodSettings, IScheme> Create)
{
    /// <summary>Describes a scheme with settings of type <typeparamref name="TSettings"/>.</summary>
    /// <typeparam name="TSettings">The scheme's settings record.</typeparam>
    /// <param name="name">The scheme's name.</param>
    /// <param name="help">One line of help.</param>
    /// <param name="create">Creates the scheme.</param>
    /// <returns>The description.</returns>
    public static SchemeInfo Of<TSettings>(string name, string help, Func<TSettings, IScheme> create)
        where TSettings : MethodSettings, new() =>
        new(name, help, new TSettings(), s => create((TSettings)s));
}
