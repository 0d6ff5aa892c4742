using GpuDistill.Kernels.AttentionTransfer;
using System.Globalization;
using GpuDistill.Training.Terms;

namespace GpuDistill.Training;

/// <summary>
/// Builds losses by name: single terms (<c>ce</c>, <c>kd</c>, <c>reverse-kl</c>, <c>jsd</c>, <c>dkd</c>), weighted
/// sums written as <c>kd:0.9,ce:0.1</c>, and the built-in methods of <c>--method</c>.
/// </summary>
public static class LossCatalog
{
    /// <summary>Term names <see cref="CreateTerm"/> knows.</summary>
    public static IReadOnlyList<string> TermNames { get; } = ["ce", "kd", "reverse-kl", "jsd", "dkd", "fitnets", "at", "at-paper", "nst", "pkt",
        "sp", "rkd-distance", "rkd-angle", "fsp", "cc", "irg", "dml", "byot", "multi-kd", "mhgd"];

    /// <summary>The built-in methods and their weighted terms (RepDistiller/mdistiller weights).</summary>
    public static IReadOnlyDictionary<string, string> Methods { get; } = new Dictionary<string, string>
    {
        ["none"] = "ce:1",
        ["kd"] = "kd:0.9,ce:0.1",
        ["reverse-kl"] = "reverse-kl:0.9,ce:0.1",
        ["jsd"] = "jsd:0.9,ce:0.1",
        ["dkd"] = "dkd:1,ce:1",
        ["fitnets"] = "fitnets:100,ce:1",
        ["at"] = "at:1000,ce:1",
        ["nst"] = "nst:50,ce:1",
        ["pkt"] = "pkt:30000,ce:1",
        ["sp"] = "sp:3000,ce:1",
        ["rkd"] = "rkd-distance:25,rkd-angle:50,ce:1",
        ["fsp"] = "fsp:50,ce:1",
        ["cc"] = "cc:0.02,ce:1",
        ["irg"] = "irg:1,ce:1",
        ["mhgd"] = "mhgd:1,ce:1",
    };

    /// <summary>Creates one term.</summary>
    /// <param name="name">A name from <see cref="TermNames"/>.</param>
    /// <param name="settings">Temperature and per-term parameters.</param>
    /// <returns>The term.</returns>
    public static ILossTerm CreateTerm(string name, LossSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return name switch
        {
            "ce" => new CrossEntropyTerm(),
            "kd" => new KDTerm(settings.Temperature),
            "reverse-kl" => new ReverseKLTerm(settings.Temperature),
            "jsd" => new JensenShannonTerm(settings.Temperature, settings.JsdBeta),
            "dkd" => new DecoupledKDTerm(settings.Temperature, settings.DkdAlpha, settings.DkdBeta, settings.DkdWarmupEpochs),
            "fitnets" => new FitNetsTerm(settings),
            "at" => new AttentionTransferTerm(settings, AttentionTransferForm.Code),
            "at-paper" => new AttentionTransferTerm(settings, AttentionTransferForm.Paper),
            "nst" => new NeuronSelectivityTransferTerm(settings),
            "pkt" => new ProbabilisticKnowledgeTransferTerm(settings),
            "sp" => new SimilarityPreservingTerm(settings),
            "rkd-distance" => new RelationalDistanceTerm(settings),
            "rkd-angle" => new RelationalAngleTerm(settings),
            "fsp" => new FlowMatrixTerm(settings),
            "cc" => new CorrelationCongruenceTerm(settings),
            "irg" => new InstanceRelationGraphTerm(settings),
            "dml" => new MutualLearningTerm(),
            "byot" => new SelfDistillationTerm(settings),
            "multi-kd" => new MultiTeacherKDTerm(settings.Temperature, settings.TeacherWeighting),
            "mhgd" => new MultiHeadGraphTerm(settings),
            _ => throw new ArgumentException($"Unknown loss term '{name}'; known: {string.Join(", ", TermNames)}.", nameof(name)),
        };
    }

    /// <summary>Parses <c>name:weight,name:weight</c> (a bare name has weight 1).</summary>
    /// <param name="spec">The spec.</param>
    /// <param name="settings">Temperature and per-term parameters.</param>
    /// <returns>The weighted loss.</returns>
    public static WeightedLoss Parse(string spec, LossSettings settings)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(spec);
        var terms = new List<(ILossTerm, double)>();
        foreach (string part in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string[] pieces = part.Split(':', 2, StringSplitOptions.TrimEntries);
            double weight = 1;
            if (pieces.Length == 2 && !double.TryParse(pieces[1], NumberStyles.Float, CultureInfo.InvariantCulture, out weight))
                throw new ArgumentException($"Loss spec '{spec}': weight '{pieces[1]}' of '{pieces[0]}' is not a number.", nameof(spec));
            terms.Add((CreateTerm(pieces[0], settings), weight));
        }
        return new WeightedLoss(terms);
    }

    /// <summary>The loss of a built-in method.</summary>
    /// <param name="method">A key of <see cref="Methods"/>.</param>
    /// <param name="settings">Temperature and per-term parameters.</param>
    /// <returns>The weighted loss.</returns>
    public static WeightedLoss ForMethod(string method, LossSettings settings)
    {
        ArgumentNullException.ThrowIfNull(method);
        return Methods.TryGetValue(method, out string? spec)
            ? Parse(spec, settings)
            : throw new ArgumentException($"Unknown method '{method}'; known: {string.Join(", ", Methods.Keys)}.", nameof(method));
    }
}
