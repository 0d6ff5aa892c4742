namespace GpuDistill.Tests.Generic;

/// <summary>
/// The relation kernels' test scaffolding: the comparison with a float64 reference, the input sweep and the
/// degenerate batches (the launch itself is <see cref="KernelLaunches.RunPair"/>).
/// </summary>
public static class RelationalKernelRun
{
    /// <summary>
    /// Asserts loss and gradient against the reference: the loss to <paramref name="tolerance"/> relative (or that
    /// much of <paramref name="lossFloor"/> absolute, for losses that are differences of larger terms), the gradient
    /// to <paramref name="tolerance"/> of its largest entry (or of <paramref name="gradientFloor"/>); both finite.
    /// </summary>
    public static void AssertMatches((double Loss, float[] Gradient) actual, (double Loss, double[] Gradient) expected,
        string what, double tolerance, double lossFloor = 0, double gradientFloor = 1e-30)
    {
        double lossError = Math.Abs(actual.Loss - expected.Loss) / Math.Max(Math.Abs(expected.Loss), Math.Max(lossFloor, 1e-30));
        double gradientError = Tolerance.RelativeMaxError(actual.Gradient, expected.Gradient, gradientFloor);
        TestContext.Out.WriteLine($"{what}: loss {actual.Loss:R} vs {expected.Loss:R} (rel. error {lossError:E2}), gradient rel. error {gradientError:E2}");
        Assert.Multiple(() =>
        {
            Assert.That(double.IsFinite(actual.Loss), $"loss finite, {what}");
            Assert.That(actual.Gradient.All(float.IsFinite), $"gradient finite, {what}");
            Assert.That(lossError, Is.LessThan(tolerance), $"loss, {what}");
            Assert.That(gradientError, Is.LessThan(tolerance), $"gradient, {what}");
        });
    }

    /// <summary>Checks one launch on student [B, Ds] and teacher [B, Dt] features against the reference.</summary>
    public delegate void PairCheck(float[] student, float[] teacher, int batch, int studentWidth, int teacherWidth, string what);

    /// <summary>
    /// Student features uniform at each scale and shifted by each offset (far from the origin, where uncentred sums
    /// cancel), teacher features uniform in [-1, 1], each pair through <paramref name="check"/>.
    /// </summary>
    public static void AcrossInputs(PairCheck check, int batch, int studentWidth, int teacherWidth,
        params (double Scale, float Offset)[] inputs)
    {
        Random random = RandomData.NewRandom();
        foreach ((double scale, float offset) in inputs)
        {
            float[] s = RandomData.Uniform(random, batch * studentWidth, scale).Select(v => v + offset).ToArray();
            float[] t = RandomData.Uniform(random, batch * teacherWidth, 1);
            check(s, t, batch, studentWidth, teacherWidth,
                $"B {batch}, Ds {studentWidth}, Dt {teacherWidth}, scale {scale}, offset {offset}");
        }
    }

    /// <summary>Every student row equal (each student relation degenerate), then every teacher row equal.</summary>
    public static void EqualRowsOnEitherSide(PairCheck check, int batch)
    {
        Random random = RandomData.NewRandom();
        float[] equal = EqualRows(random, batch, 6, 2);
        float[] other = RandomData.Uniform(random, batch * 4, 1);
        check(equal, other, batch, 6, 4, "equal student rows");
        check(other, equal, batch, 4, 6, "equal teacher rows");
    }

    /// <summary>A zero student row, then a zero teacher row, in a batch of 6.</summary>
    public static void ZeroRowOnEitherSide(PairCheck check)
    {
        Random random = RandomData.NewRandom();
        float[] zero = WithZeroRow(random, 6, 5, 1, 2);
        float[] other = WellSeparated(random, 6, 3);
        check(zero, other, 6, 5, 3, "zero student row");
        check(other, zero, 6, 3, 5, "zero teacher row");
    }

    /// <summary>
    /// Example 3 a copy of example 1, on the student's side, then on the teacher's: u_13 and u_31 are normalize(0) = 0
    /// and their gradient gu / 1e-12, as in PyTorch; the Gram form sees the duplicate exactly (identical centred rows
    /// give identical dot products), so it agrees with the reference.
    /// </summary>
    /// <param name="check">The loss's check.</param>
    public static void DuplicateExampleOnEitherSide(PairCheck check)
    {
        Random random = RandomData.NewRandom();
        float[] duplicated = RandomData.Uniform(random, 6 * 5, 1);
        Array.Copy(duplicated, 5, duplicated, 15, 5);
        float[] other = RandomData.Uniform(random, 6 * 4, 1);
        check(duplicated, other, 6, 5, 4, "duplicate student example");
        check(other, duplicated, 6, 4, 5, "duplicate teacher example");
    }

    /// <summary>
    /// Features [B, D] uniform in [-1, 1], each row redrawn until it lies at least 0.25 sqrt(D) from every earlier one.
    /// </summary>
    /// <remarks>
    /// The kernels take distances from the float32 Gram matrix, |e_i - e_j|^2 = G_ii + G_jj - 2 G_ij, whose rounding
    /// grows as 1 / |e_i - e_j|^2: two random rows that happen to lie close (about one draw in a thousand of 6 x 3)
    /// put an angle gradient 3e-5 off the float64 reference against the usual 1e-6. A test about something else (a zero
    /// row on the other side) draws its partner away from that case; the conditioning has its own tests.
    /// </remarks>
    public static float[] WellSeparated(Random random, int batch, int width)
    {
        var values = new float[batch * width];
        double minimum = 0.25 * Math.Sqrt(width);
        for (int i = 0; i < batch; i++)
        {
            float[] row;
            do row = RandomData.Uniform(random, width, 1);
            while (Enumerable.Range(0, i).Any(j => Distance(row, values.AsSpan(j * width, width)) < minimum));
            row.CopyTo(values, i * width);
        }
        return values;

        static double Distance(float[] a, ReadOnlySpan<float> b)
        {
            double sum = 0;
            for (int k = 0; k < a.Length; k++) sum += (a[k] - b[k]) * (double)(a[k] - b[k]);
            return Math.Sqrt(sum);
        }
    }

    /// <summary>Features [B, D] uniform in [-scale, scale] with every row a copy of the first.</summary>
    public static float[] EqualRows(Random random, int batch, int width, double scale)
    {
        float[] row = RandomData.Uniform(random, width, scale);
        var values = new float[batch * width];
        for (int i = 0; i < batch; i++) row.CopyTo(values, i * width);
        return values;
    }

    /// <summary>Features [B, D] uniform in [-scale, scale] with row <paramref name="zeroRow"/> set to 0.</summary>
    public static float[] WithZeroRow(Random random, int batch, int width, double scale, int zeroRow)
    {
        float[] values = RandomData.Uniform(random, batch * width, scale);
        Array.Clear(values, zeroRow * width, width);
        return values;
    }
}
