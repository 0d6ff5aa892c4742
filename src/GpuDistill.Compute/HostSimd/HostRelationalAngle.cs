using System.Runtime.Intrinsics;
using GpuDistill.Kernels.Relations;
using GpuDistill.Kernels.Relations.RelationalAngle;

namespace GpuDistill.Compute.HostSimd;

/// <summary>
/// The O(B^3) part of RKD's angle loss on the host backend: from the two centred Gram matrices, each anchor's share of
/// the loss and the mixing matrix M whose product with the student's centred embeddings is the gradient (the math of
/// <see cref="RelationalAngleKernels"/>, where it is written out). The caller forms the Grams and M E with libtorch's
/// GEMM, so the embeddings' width D enters only there: the angles cost O(B^3) whatever D is, where the TorchSharp
/// composite's B x B x D differences and batched products cost O(B^3 D).
/// </summary>
/// <remarks>
/// One pass over (anchor i, j, k), eight k at a time: the kernels' two passes (one for A, beta and T, one for
/// sum_i alpha_imx) become one, since anchor i's alpha_ijk for all k is a row that adds into row j of a per-thread
/// accumulator. Rows are padded to a multiple of eight with zero norms, which make their angles, alphas and losses 0.
/// </remarks>
public static unsafe class HostRelationalAngle
{
    private const int Width = SimdMath.Width;

    /// <summary>Below this many angle evaluations (B^3) a call runs on the calling thread.</summary>
    private const long ParallelThreshold = 1 << 18;

    /// <summary>Computes each anchor's loss share and the mixing matrix.</summary>
    /// <param name="gramStudent">The student's centred Gram matrix, [B*B], symmetric.</param>
    /// <param name="gramTeacher">The teacher's centred Gram matrix, [B*B], symmetric.</param>
    /// <param name="mixing">Output M, [B*B]: d loss / d e = M (e - mean).</param>
    /// <param name="rowLoss">Output per-anchor loss shares, [B]; the loss is their sum.</param>
    /// <param name="rows">B, at least 1.</param>
    /// <exception cref="ArgumentException">When a length does not match B.</exception>
    public static void Run(ReadOnlySpan<float> gramStudent, ReadOnlySpan<float> gramTeacher, Span<float> mixing,
        Span<float> rowLoss, int rows)
    {
        if (rows <= 0) throw new ArgumentOutOfRangeException(nameof(rows), rows, "rows (B) must be positive.");
        long square = (long)rows * rows;
        HostSimdRowLoss.RequireLength(gramStudent.Length, square, nameof(gramStudent));
        HostSimdRowLoss.RequireLength(gramTeacher.Length, square, nameof(gramTeacher));
        HostSimdRowLoss.RequireLength(mixing.Length, square, nameof(mixing));
        HostSimdRowLoss.RequireLength(rowLoss.Length, rows, nameof(rowLoss));

        int stride = (rows + Width - 1) / Width * Width;
        var gs = new float[rows * stride];
        var gt = new float[rows * stride];
        Pad(gramStudent, gs, rows, stride);
        Pad(gramTeacher, gt, rows, stride);
        // Per pair, 1 / n_ij where the difference is resolved (n_ij >= eps), else 0: one product then gives the angle
        // and alpha with their zero cases. The student also needs 1 / max(n_ij, eps) for T.
        var inverseS = new float[rows * stride];
        var inverseT = new float[rows * stride];
        var inverseClampedS = new float[rows * stride];
        InverseNorms(gs, inverseS, inverseClampedS, rows, stride);
        InverseNorms(gt, inverseT, null, rows, stride);

        // Per pair (i, j): A_ij, beta_ij, T_ij (the kernels' pairAlpha, pairBeta, pairMiddle); per thread: sum_i alpha_i..
        var pairAlpha = new float[rows * rows];
        var pairBeta = new float[rows * rows];
        var pairMiddle = new float[rows * rows];
        var alphaSum = new float[rows * stride];
        var anchorLoss = new double[rows];
        var pass = new Pass(gs, gt, inverseS, inverseT, inverseClampedS, pairAlpha, pairBeta, pairMiddle, anchorLoss, rows, stride);

        int threads = HostRows.MaxThreads;
        if ((long)rows * rows * rows < ParallelThreshold || threads == 1)
        {
            for (int i = 0; i < rows; i++) pass.Anchor(i, alphaSum);
        }
        else
        {
            var gate = new object();
            Parallel.For(0, rows, new ParallelOptions { MaxDegreeOfParallelism = threads },
                () => new float[rows * stride],
                (i, _, local) => { pass.Anchor(i, local); return local; },
                local => { lock (gate) Add(local, alphaSum); });
        }

        // M[m,x] = sum_i alpha_imx - T_mx + beta_xm + beta_mx - A_xm, and on the diagonal
        // + sum_j (A_mj - beta_jm - beta_mj) (RelationalAngleKernels.Mixing).
        for (int m = 0; m < rows; m++)
        {
            double diagonal = 0;
            for (int x = 0; x < rows; x++)
            {
                int mx = m * rows + x, xm = x * rows + m;
                mixing[mx] = alphaSum[m * stride + x] - pairMiddle[mx] + pairBeta[xm] + pairBeta[mx] - pairAlpha[xm];
                diagonal += pairAlpha[mx] - pairBeta[xm] - pairBeta[mx];
            }
            mixing[m * rows + m] += (float)diagonal;
            rowLoss[m] = (float)anchorLoss[m];
        }
    }

    private static void Pad(ReadOnlySpan<float> source, float[] target, int rows, int stride)
    {
        for (int i = 0; i < rows; i++) source.Slice(i * rows, rows).CopyTo(target.AsSpan(i * stride, rows));
    }

    /// <summary>
    /// From ||e_j - e_i|| = sqrt(max(G_ii + G_jj - 2 G_ij, 0)): its inverse where it is at least eps (else 0, as on the
    /// diagonal and in the padding), and optionally 1 / max(||e_j - e_i||, eps) (1 / eps on the diagonal).
    /// </summary>
    private static void InverseNorms(float[] gram, float[] inverse, float[]? inverseClamped, int rows, int stride)
    {
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < rows; j++)
            {
                float squared = gram[i * stride + i] + gram[j * stride + j] - 2f * gram[i * stride + j];
                float norm = i == j ? 0f : MathF.Sqrt(MathF.Max(squared, 0f));
                inverse[i * stride + j] = norm >= RelationMath.NormalizeEps ? 1f / norm : 0f;
                if (inverseClamped is not null)
                    inverseClamped[i * stride + j] = 1f / MathF.Max(norm, RelationMath.NormalizeEps);
            }
        }
    }

    private static void Add(float[] source, float[] target)
    {
        for (int c = 0; c < source.Length; c++) target[c] += source[c];
    }

    /// <summary>One call's inputs and per-pair outputs; <see cref="Anchor"/> does one anchor's B^2 angles.</summary>
    private sealed class Pass(float[] gs, float[] gt, float[] inverseS, float[] inverseT, float[] inverseClampedS,
        float[] pairAlpha, float[] pairBeta, float[] pairMiddle, double[] anchorLoss, int rows, int stride)
    {
        /// <summary>
        /// Anchor i: for every j, the angles a_ijk of all k, their Huber loss, A_ij, beta_ij, T_ij, and alpha_ijk
        /// added into row j of <paramref name="alphaSum"/> (a thread's own accumulator of sum_i alpha_ijk).
        /// </summary>
        public void Anchor(int i, float[] alphaSum)
        {
            Vector256<float> one = Vector256<float>.One, minusOne = Vector256.Create(-1f), half = Vector256.Create(0.5f);
            Vector256<float> lanes = Vector256.Create(0f, 1f, 2f, 3f, 4f, 5f, 6f, 7f);
            float scale = 1f / ((float)rows * rows * rows);
            Vector256<float> twoScale = Vector256.Create(2f * scale);
            int rowI = i * stride;
            double loss = 0;
            fixed (float* gsp = gs, gtp = gt, isp = inverseS, itp = inverseT, icp = inverseClampedS, sum = alphaSum)
            {
                float* gsi = gsp + rowI, gti = gtp + rowI, isi = isp + rowI, iti = itp + rowI, ici = icp + rowI;
                for (int j = 0; j < rows; j++)
                {
                    if (j == i) continue;
                    // 1 / n_ij, 0 where unresolved: every angle of the pair is then 0, as F.normalize makes it.
                    float inverseIj = isi[j];
                    bool resolved = inverseIj != 0f;
                    // dot(e_j - e_i, e_k - e_i) = G_jk - G_ik + (G_ii - G_ij); for k = j the angle is 1 (or 0).
                    Vector256<float> baseS = Vector256.Create(gsi[i] - gsi[j]), baseT = Vector256.Create(gti[i] - gti[j]);
                    Vector256<float> pairS = Vector256.Create(inverseIj), pairT = Vector256.Create(iti[j]);
                    Vector256<float> selfS = resolved ? one : Vector256<float>.Zero;
                    Vector256<float> selfT = iti[j] != 0f ? one : Vector256<float>.Zero;
                    // 1 / c_ij with c_ij = max(n_ij, eps).
                    Vector256<float> inverseC = Vector256.Create(ici[j]), vj = Vector256.Create((float)j);
                    float* gsj = gsp + j * stride, gtj = gtp + j * stride, row = sum + j * stride;
                    Vector256<float> lossAcc = Vector256<float>.Zero, alphaAcc = Vector256<float>.Zero;
                    Vector256<float> middleAcc = Vector256<float>.Zero, momentAcc = Vector256<float>.Zero;
                    for (int k = 0; k < stride; k += Width)
                    {
                        Vector256<float> isJ = Vector256.Equals(lanes + Vector256.Create((float)k), vj);
                        Vector256<float> inverseK = Vector256.Load(isi + k);
                        Vector256<float> aS = Vector256.ConditionalSelect(isJ, selfS,
                            (Vector256.Load(gsj + k) - Vector256.Load(gsi + k) + baseS) * (pairS * inverseK));
                        Vector256<float> aT = Vector256.ConditionalSelect(isJ, selfT,
                            (Vector256.Load(gtj + k) - Vector256.Load(gti + k) + baseT) * (pairT * Vector256.Load(iti + k)));
                        Vector256<float> x = aS - aT;
                        Vector256<float> abs = Vector256.Abs(x);
                        lossAcc += Vector256.ConditionalSelect(Vector256.LessThan(abs, one), half * x * x, abs - half);
                        Vector256<float> g = twoScale * Vector256.Min(Vector256.Max(x, minusOne), one);
                        // alpha_ijk = g / (c_ij n_ik), 0 where n_ik is unresolved; T's term g / max(n_ik, eps).
                        Vector256<float> alpha = g * inverseK * inverseC;
                        alphaAcc += alpha;
                        middleAcc += g * Vector256.Load(ici + k);
                        momentAcc += g * aS;
                        Vector256.Store(Vector256.Load(row + k) + alpha, row + k);
                    }
                    int ij = i * rows + j;
                    loss += SimdMath.Sum(lossAcc);
                    pairAlpha[ij] = (float)SimdMath.Sum(alphaAcc);
                    pairMiddle[ij] = resolved ? (float)(SimdMath.Sum(middleAcc) * inverseIj) : 0f;
                    pairBeta[ij] = resolved ? (float)(SimdMath.Sum(momentAcc) * ((double)inverseIj * inverseIj)) : 0f;
                }
            }
            anchorLoss[i] = scale * loss;
        }
    }
}
