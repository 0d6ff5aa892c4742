namespace GpuDistill.Search;

/// <summary>
/// The choices of the student search: per-stage widths, depths, kernel sizes and (where <see cref="SeparableChoices"/>
/// allows) depthwise-separable blocks of the CNN family, and the hidden widths of the MLP family. Widths are ordered
/// lists, so a mutation moves one step up or down.
/// </summary>
public sealed record SearchSpace
{
    /// <summary>The families drawn from.</summary>
    public IReadOnlyList<ArchitectureFamily> Families { get; init; } = [ArchitectureFamily.Cnn];

    /// <summary>Width choices of CNN stages 1, 2 and 3 (ascending).</summary>
    public IReadOnlyList<IReadOnlyList<int>> StageWidths { get; init; } = [[4, 6, 8, 12, 16], [8, 12, 16, 24, 32], [16, 24, 32, 48, 64]];

    /// <summary>Depth choices of every CNN stage (ascending).</summary>
    public IReadOnlyList<int> StageDepths { get; init; } = [1, 2, 3];

    /// <summary>Kernel-size choices of every CNN stage (ascending, odd).</summary>
    public IReadOnlyList<int> KernelSizes { get; init; } = [3, 5];

    /// <summary>Whether a CNN stage's blocks may be dense (false) and/or depthwise-separable (true); dense only by
    /// default.</summary>
    public IReadOnlyList<bool> SeparableChoices { get; init; } = [false];

    /// <summary>
    /// The default space widened for depthwise-separable stages: each stage dense or separable, and wider stage widths
    /// (a separable block of C channels costs about C^2 + 9C parameters against a dense 3x3 block's 9C^2, so the same
    /// budget buys about three times the width).
    /// </summary>
    public static SearchSpace WithSeparable { get; } = new()
    {
        StageWidths = [[4, 6, 8, 12, 16, 24], [8, 12, 16, 24, 32, 48], [16, 24, 32, 48, 64, 72, 96, 128]],
        SeparableChoices = [false, true],
    };

    /// <summary>Width choices of the MLP's two hidden layers (ascending).</summary>
    public IReadOnlyList<IReadOnlyList<int>> MlpWidths { get; init; } = [[8, 16, 32, 64, 128], [8, 16, 32, 64]];

    /// <summary>Throws when a list is empty, a width or depth is not positive, or a kernel size is even.</summary>
    public void Validate()
    {
        if (Families.Count == 0) throw new ArgumentException("The search space needs a family.", nameof(Families));
        if (StageWidths.Count != 3 || StageWidths.Any(w => w.Count == 0 || w.Any(x => x <= 0)))
            throw new ArgumentException("StageWidths must hold three non-empty lists of positive widths.", nameof(StageWidths));
        if (StageDepths.Count == 0 || StageDepths.Any(d => d <= 0))
            throw new ArgumentException("StageDepths must hold positive depths.", nameof(StageDepths));
        if (KernelSizes.Count == 0 || KernelSizes.Any(k => k <= 0 || k % 2 == 0))
            throw new ArgumentException("KernelSizes must hold odd positive sizes.", nameof(KernelSizes));
        if (SeparableChoices.Count == 0 || SeparableChoices.Distinct().Count() != SeparableChoices.Count)
            throw new ArgumentException("SeparableChoices must hold false, true or both, once each.", nameof(SeparableChoices));
        if (MlpWidths.Count != 2 || MlpWidths.Any(w => w.Count == 0 || w.Any(x => x <= 0)))
            throw new ArgumentException("MlpWidths must hold two non-empty lists of positive widths.", nameof(MlpWidths));
    }

    /// <summary>The smallest architecture of each family (least widths and depths, smallest kernels).</summary>
    public IReadOnlyList<StudentArchitecture> Smallest() => [.. Families.Select(f => f == ArchitectureFamily.Mlp
        ? StudentArchitecture.Mlp(MlpWidths[0].Min(), MlpWidths[1].Min())
        : StudentArchitecture.Cnn([.. StageWidths.Select(w => w.Min())], [StageDepths.Min(), StageDepths.Min(), StageDepths.Min()],
            [KernelSizes.Min(), KernelSizes.Min(), KernelSizes.Min()]))];

    /// <summary>A uniformly drawn architecture.</summary>
    public StudentArchitecture Sample(Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        ArchitectureFamily family = Families[random.Next(Families.Count)];
        if (family == ArchitectureFamily.Mlp)
            return StudentArchitecture.Mlp(Pick(random, MlpWidths[0]), Pick(random, MlpWidths[1]));
        return StudentArchitecture.Cnn([.. StageWidths.Select(w => Pick(random, w))],
            [.. Enumerable.Range(0, 3).Select(_ => Pick(random, StageDepths))], [.. Enumerable.Range(0, 3).Select(_ => Pick(random, KernelSizes))],
            // Drawn only where there is a choice, so a dense-only space draws the same architectures as before.
            SeparableChoices.Count > 1 ? [.. Enumerable.Range(0, 3).Select(_ => Pick(random, SeparableChoices))] : [.. Enumerable.Repeat(SeparableChoices[0], 3)]);
    }

    /// <summary>
    /// <paramref name="parent"/> with one gene moved one step: a width, a depth or a kernel size of one stage (CNN), or
    /// one hidden width (MLP). Values outside this space's lists are first snapped to the nearest choice.
    /// </summary>
    public StudentArchitecture Mutate(StudentArchitecture parent, Random random)
    {
        ArgumentNullException.ThrowIfNull(parent);
        ArgumentNullException.ThrowIfNull(random);
        int direction = random.Next(2) == 0 ? -1 : 1;
        if (parent.Family == ArchitectureFamily.Mlp)
        {
            int[] widths = [.. parent.Widths];
            int layer = random.Next(2);
            widths[layer] = Step(MlpWidths[layer], widths[layer], direction);
            return StudentArchitecture.Mlp(widths[0], widths[1]);
        }
        int[] w = [.. parent.Widths], d = [.. parent.Depths], k = [.. parent.Kernels];
        bool[] separable = [.. Enumerable.Range(0, 3).Select(parent.IsSeparable)];
        int stage = random.Next(3);
        switch (random.Next(SeparableChoices.Count > 1 ? 4 : 3))
        {
            case 0: w[stage] = Step(StageWidths[stage], w[stage], direction); break;
            case 1: d[stage] = Step(StageDepths, d[stage], direction); break;
            case 2: k[stage] = Step(KernelSizes, k[stage], direction); break;
            default: separable[stage] = !separable[stage]; break;
        }
        return StudentArchitecture.Cnn(w, d, k, separable);
    }

    private static T Pick<T>(Random random, IReadOnlyList<T> choices) => choices[random.Next(choices.Count)];

    private static int Step(IReadOnlyList<int> choices, int value, int direction)
    {
        int nearest = Enumerable.Range(0, choices.Count).MinBy(i => Math.Abs(choices[i] - value));
        return choices[Math.Clamp(nearest + direction, 0, choices.Count - 1)];
    }
}
