using System.Globalization;
using GpuDistill.Interop;
using GpuDistill.Methods;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill.Training;

/// <summary>A weighted sum of named loss terms, e.g. <c>kd:0.9,ce:0.1</c>.</summary>
public sealed class WeightedLoss
{
    /// <summary>Creates the sum.</summary>
    /// <param name="terms">The terms with their weights; names must be unique.</param>
    public WeightedLoss(IReadOnlyList<(ILossTerm Term, double Weight)> terms)
    {
        ArgumentNullException.ThrowIfNull(terms);
        if (terms.Count == 0) throw new ArgumentException("A loss needs at least one term.", nameof(terms));
        var duplicate = terms.GroupBy(t => t.Term.Name).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new ArgumentException($"Loss term '{duplicate.Key}' appears twice.", nameof(terms));
        foreach ((ILossTerm term, double weight) in terms)
        {
            if (!double.IsFinite(weight) || weight < 0)
                throw new ArgumentOutOfRangeException(nameof(terms), weight, $"Weight of '{term.Name}' must be finite and >= 0.");
        }
        Terms = terms;
    }

    /// <summary>Parses <paramref name="spec"/> (<c>kd:0.9,ce:0.1</c>) and creates its terms.</summary>
    /// <param name="spec">The weighted terms.</param>
    /// <param name="settings">Every method's settings; the defaults when null.</param>
    /// <returns>The weighted loss.</returns>
    public static WeightedLoss Parse(string spec, MethodSettingsMap? settings = null) =>
        LossSpec.Parse(spec, settings?.Registry).Create(settings);

    /// <summary>The loss of the built-in method <paramref name="method"/> (e.g. kd = kd:0.9,ce:0.1), its terms created.</summary>
    /// <param name="method">A built-in method's name.</param>
    /// <param name="settings">Every method's settings; the defaults when null.</param>
    /// <returns>The weighted loss.</returns>
    public static WeightedLoss ForMethod(string method, MethodSettingsMap? settings = null) =>
        LossSpec.ForMethod(method, settings?.Registry).Create(settings);

    /// <summary>The terms and their weights.</summary>
    public IReadOnlyList<(ILossTerm Term, double Weight)> Terms { get; }

    /// <summary>Whether any term reads the teacher.</summary>
    public bool NeedsTeacher => Terms.Any(t => t.Term.NeedsTeacher && t.Weight > 0);

    /// <summary>The spec string, e.g. <c>kd:0.9,ce:0.1</c>.</summary>
    public override string ToString() => string.Join(',',
        Terms.Select(t => t.Term.Name + ":" + t.Weight.ToString("G", CultureInfo.InvariantCulture)));

    /// <summary>Computes the weighted sum and the value of each term (unweighted) for display.</summary>
    /// <param name="inputs">The step's logits and labels.</param>
    /// <param name="parts">Receives each term's value.</param>
    /// <returns>The total, a scalar with an autograd graph.</returns>
    public Tensor Compute(TermInputs inputs, IDictionary<string, double> parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        Tensor? total = null;
        foreach ((ILossTerm term, double weight) in Terms)
        {
            if (weight == 0) continue;
            Tensor value = term.Compute(inputs);
            double part = value.item<float>();
            if (!double.IsFinite(part))
                throw new NonFiniteTermException($"Loss term '{term.Name}' became {part}.") { Term = term.Name };
            parts[term.Name] = part;
            // Explicit Scalars that outlive the calls (see Scalars on short-lived implicit ones).
            using Scalar w = weight.ToScalar();
            Tensor weighted = value.mul(w);
            total = total is null ? weighted : total.add(weighted, alpha: Scalars.One);
        }
        return total ?? throw new InvalidOperationException("Every term of the loss has weight 0.");
    }
}
