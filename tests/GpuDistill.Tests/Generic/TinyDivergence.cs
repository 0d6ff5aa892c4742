namespace GpuDistill.Tests.Generic;

/// <summary>The row losses the tiny-divergence precision tests run (JSD at its mixture and at both KL endpoints, DKD whole and its target term alone).</summary>
public enum TinyDivergenceLoss
{
    SoftmaxKL, ReverseKL, JensenShannon, JensenShannonAtZero, JensenShannonAtOne, DecoupledKD,

    /// <summary>DKD with beta = 0: its target-class term TCKD alone, a KL between two-point distributions.</summary>
    DecoupledKDTargetOnly,
}

/// <summary>
/// Teacher and student that barely disagree: logits N(0, 1) at T = 20, where every row loss is ~1e-3 of the size of
/// its log-sum-exps, so a loss formed as a difference of those loses its digits in float32. The loss value (not only
/// the gradient) must match the float64 reference to <see cref="RelativeBound"/>.
/// </summary>
public static class TinyDivergence
{
    /// <summary>Relative error allowed on the loss and the gradient (issue 15: "1e-4 relative on every backend").</summary>
    public const double RelativeBound = 1e-4;

    /// <summary>T.</summary>
    public const double Temperature = 20;

    /// <summary>DKD's alpha and warm-up weight.</summary>
    public const double DkdAlpha = 1.0, DkdWarmup = 1.0;

    /// <summary>DKD's beta (0 leaves TCKD alone).</summary>
    public static double DkdBeta(TinyDivergenceLoss loss) => loss == TinyDivergenceLoss.DecoupledKDTargetOnly ? 0.0 : 8.0;

    /// <summary>Whether the loss is DKD (which always takes labels).</summary>
    public static bool IsDecoupledKD(TinyDivergenceLoss loss) =>
        loss is TinyDivergenceLoss.DecoupledKD or TinyDivergenceLoss.DecoupledKDTargetOnly;

    /// <summary>The row lengths the cases run: 1,000, an LLM-sized vocabulary, a million and three.</summary>
    public static readonly int[] Classes = [1000, 32000, 1_000_003];

    /// <summary>
    /// Rows per case: few, so that the batch's loss is close to one row's (an error is not averaged away over many
    /// rows), and one at a million classes so the float64 reference and the CPU accelerator stay fast.
    /// </summary>
    public static int Rows(int classes) => classes > 100_000 ? 1 : classes > 10_000 ? 2 : 4;

    /// <summary>JSD's beta for a loss (0.5 for the others, unused).</summary>
    public static double Beta(TinyDivergenceLoss loss) => loss switch
    {
        TinyDivergenceLoss.JensenShannonAtZero => 0.0,
        TinyDivergenceLoss.JensenShannonAtOne => 1.0,
        _ => 0.5,
    };

    /// <summary>Fresh inputs: student and teacher logits N(0, 1), and labels (DKD's targets; no other loss takes any).</summary>
    public static (float[] Student, float[] Teacher, int[]? Labels) Inputs(TinyDivergenceLoss loss, int rows, int classes)
    {
        Random random = RandomData.NewRandom();
        float[] student = RandomData.Normal(random, (long)rows * classes, 1);
        float[] teacher = RandomData.Normal(random, (long)rows * classes, 1);
        int[]? labels = IsDecoupledKD(loss) ? RandomData.Labels(random, rows, classes, ignoreIndex: null) : null;
        return (student, teacher, labels);
    }

    /// <summary>The float64 reference of a loss (weight 1 for KD; no hard term).</summary>
    public static (double Loss, double[] Gradient) Reference(TinyDivergenceLoss loss, float[] student, float[] teacher,
        int[]? labels, int rows, int classes) => loss switch
    {
        TinyDivergenceLoss.SoftmaxKL => SoftmaxKLReference.Compute(student, teacher, rows, classes, Temperature),
        TinyDivergenceLoss.ReverseKL => ReverseKLReference.Compute(student, teacher, rows, classes, Temperature),
        TinyDivergenceLoss.DecoupledKD or TinyDivergenceLoss.DecoupledKDTargetOnly => DecoupledKDReference.Compute(student,
            teacher, rows, classes, labels!, Temperature, DkdAlpha, DkdBeta(loss), DkdWarmup),
        _ => JensenShannonReference.Compute(student, teacher, rows, classes, Temperature, Beta(loss)),
    };

    /// <summary>
    /// Asserts the loss to <see cref="RelativeBound"/> of the reference's, and the gradient to the same bound of its
    /// largest entry (the gradients were already this accurate; the loss values were not).
    /// </summary>
    public static void AssertMatches((double Loss, float[] Gradient) actual, (double Loss, double[] Gradient) expected,
        string what)
    {
        double lossError = Tolerance.RelativeError(actual.Loss, expected.Loss, floor: 1e-30);
        double gradientError = Tolerance.RelativeMaxError(actual.Gradient, expected.Gradient);
        TestContext.Out.WriteLine($"{what}: loss {actual.Loss:R} vs {expected.Loss:R}, relative error {lossError:E2}; gradient {gradientError:E2}");
        Assert.Multiple(() =>
        {
            Assert.That(expected.Loss, Is.GreaterThan(0), "the reference divergence is positive");
            Assert.That(lossError, Is.LessThan(RelativeBound), $"loss, {what}");
            Assert.That(gradientError, Is.LessThan(RelativeBound), $"gradient, {what}");
        });
    }
}
