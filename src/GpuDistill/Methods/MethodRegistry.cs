namespace GpuDistill.Methods;

/// <summary>
/// Every loss term and training scheme the library knows, by name: the one list that the loss specs, recipes, the
/// command line's help, the built-in recipes and the benchmarks read. Each method's file declares its own
/// <see cref="TermInfo"/> or <see cref="SchemeInfo"/>; this file lists them, one line each. Research code adds its
/// own with <see cref="Register(TermInfo)"/> before it parses a loss or loads a recipe that names them.
/// </summary>
public sealed class MethodRegistry
{
    private readonly Lock gate = new();
    private List<TermInfo> terms = [];
    private List<SchemeInfo> schemes = [];

    /// <summary>The registry the library uses: the built-in methods, and whatever the application registered.</summary>
    public static MethodRegistry Default { get; } = new MethodRegistry()
        // Response-based knowledge
        .Register(CrossEntropyTerm.Info)
        .Register(KDTerm.Info)
        .Register(ReverseKLTerm.Info)
        .Register(JensenShannonTerm.Info)
        .Register(DecoupledKDTerm.Info)
        .Register(PearsonRelationTerm.Info)
        .Register(MultiTeacherKDTerm.Info)
        // Feature-based knowledge
        .Register(FitNetsTerm.Info)
        .Register(AttentionTransferTerm.Info)
        .Register(AttentionTransferTerm.PaperInfo)
        .Register(NeuronSelectivityTransferTerm.Info)
        .Register(ProbabilisticKnowledgeTransferTerm.Info)
        // Relation-based knowledge
        .Register(SimilarityPreservingTerm.Info)
        .Register(RelationalDistanceTerm.Info)
        .Register(RelationalAngleTerm.Info)
        .Register(FlowMatrixTerm.Info)
        .Register(CorrelationCongruenceTerm.Info)
        .Register(InstanceRelationGraphTerm.Info)
        .Register(MultiHeadGraphTerm.Info)
        // Schemes: online, self-distillation, teacher-student set-ups
        .Register(MutualLearningTerm.Info)
        .Register(MutualLearningScheme.Info)
        .Register(SelfDistillationTerm.Info)
        .Register(SelfDistillationScheme.Info)
        .Register(BornAgainScheme.Info)
        .Register(TeacherAssistantScheme.Info)
        .Register(MultiTeacherScheme.Info)
        // Lifelong and cross-modal distillation
        .Register(LifelongScheme.Info)
        .Register(CrossModalScheme.Info)
        // Quantized distillation
        .Register(QuantizedAloneScheme.Info)
        .Register(QuantizedKDScheme.Info)
        .Register(QuantizedTeacherScheme.Info)
        .Register(QkdScheme.Info)
        // Data-free and adversarial distillation
        .Register(DaflScheme.Info)
        .Register(DfadScheme.Info)
        .Register(DeepInversionScheme.Info)
        .Register(AdversarialScheme.Info)
        .Register(DiscriminatorScheme.Info);

    /// <summary>The loss terms, in registration order.</summary>
    public IReadOnlyList<TermInfo> Terms => terms;

    /// <summary>The training schemes, in registration order.</summary>
    public IReadOnlyList<SchemeInfo> Schemes => schemes;

    /// <summary>The built-in methods (<c>--method</c>) of every term, in registration order.</summary>
    public IReadOnlyList<BuiltInMethod> Methods => [.. terms.SelectMany(t => t.Methods)];

    /// <summary>The names a loss spec may use.</summary>
    public IReadOnlyList<string> TermNames => [.. terms.Select(t => t.Name)];

    /// <summary>Adds a term (and the built-in methods it declares).</summary>
    /// <param name="term">The term's description.</param>
    /// <returns>This registry.</returns>
    /// <exception cref="ArgumentException">When the name, or a method's name, is taken.</exception>
    public MethodRegistry Register(TermInfo term)
    {
        ArgumentNullException.ThrowIfNull(term);
        lock (gate)
        {
            RequireFree(term.Name, term.DefaultSettings, terms.Select(t => t.Name));
            foreach (BuiltInMethod method in term.Methods)
            {
                if (Methods.Any(m => m.Name == method.Name))
                    throw new ArgumentException($"A method named '{method.Name}' is registered already.", nameof(term));
            }
            terms = [.. terms, term];
        }
        return this;
    }

    /// <summary>Adds a scheme.</summary>
    /// <param name="scheme">The scheme's description.</param>
    /// <returns>This registry.</returns>
    /// <exception cref="ArgumentException">When the name is taken.</exception>
    public MethodRegistry Register(SchemeInfo scheme)
    {
        ArgumentNullException.ThrowIfNull(scheme);
        lock (gate)
        {
            RequireFree(scheme.Name, scheme.DefaultSettings, schemes.Select(s => s.Name));
            schemes = [.. schemes, scheme];
        }
        return this;
    }

    /// <summary>The term named <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">For an unknown name; the message lists the known ones.</exception>
    public TermInfo Term(string name) =>
        terms.FirstOrDefault(t => t.Name == name)
        ?? throw new ArgumentException($"Unknown loss term '{name}'; known: {string.Join(", ", TermNames)}.", nameof(name));

    /// <summary>The scheme named <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">For an unknown name; the message lists the known ones.</exception>
    public SchemeInfo Scheme(string name) =>
        schemes.FirstOrDefault(s => s.Name == name)
        ?? throw new ArgumentException($"Unknown scheme '{name}'; known: {string.Join(", ", schemes.Select(s => s.Name))}.", nameof(name));

    /// <summary>The built-in method named <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">For an unknown name; the message lists the known ones.</exception>
    public BuiltInMethod Method(string name) =>
        Methods.FirstOrDefault(m => m.Name == name)
        ?? throw new ArgumentException($"Unknown method '{name}'; known: {string.Join(", ", Methods.Select(m => m.Name))}.", nameof(name));

    /// <summary>The default settings of the term or scheme named <paramref name="name"/>, or null when there is none.</summary>
    public MethodSettings? DefaultSettings(string name) =>
        terms.FirstOrDefault(t => t.Name == name)?.DefaultSettings ?? schemes.FirstOrDefault(s => s.Name == name)?.DefaultSettings;

    /// <summary>Every name that has settings: the terms' and the schemes' (a scheme and its term share one).</summary>
    public IEnumerable<string> SettingsNames => terms.Select(t => t.Name).Concat(schemes.Select(s => s.Name)).Distinct();

    /// <summary>
    /// A name is taken once per kind; a scheme may share its name with the term it trains with (dml, byot), and then
    /// they share one settings record, as a recipe has one settings entry per name.
    /// </summary>
    private void RequireFree(string name, MethodSettings settings, IEnumerable<string> sameKind)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (sameKind.Contains(name))
            throw new ArgumentException($"'{name}' is registered already.", nameof(name));
        if (DefaultSettings(name) is { } other && other.GetType() != settings.GetType())
        {
            throw new ArgumentException(
                $"'{name}' names a term and a scheme with different settings ({other.GetType().Name}, {settings.GetType().Name}); they must share one.",
                nameof(name));
        }
    }
}
