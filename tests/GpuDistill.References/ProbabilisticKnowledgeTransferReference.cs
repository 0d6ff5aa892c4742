namespace GpuDistill.References;

/// <summary>
/// Float64 reference of PKT (loss-spec 2.4), in plain loops: x^ = x / (||x|| + eps) (NaN set to 0), K = X^ X^T,
/// K' = (K + 1) / 2, P = K' / rowsum(K'), L = (1/B^2) sum_ij P_t log((P_t + eps) / (P_s + eps)); the gradient is the
/// spec's gP -> gK -> gX^ -> gx chain.
/// </summary>
public static class ProbabilisticKnowledgeTransferReference
{
    /// <summary>
    /// The loss, its gradient with respect to the student rows [B, D_s], and (1/B^2) sum P_t (|log(P_t + eps)| +
    /// |log(P_s + eps)|) (the size of its terms).
    /// </summary>
    public static (double Loss, double[] Gradient, double Magnitude) Compute(
        double[] student, int batch, int studentDim, double[] teacher, int teacherDim, double eps = 1e-7)
    {
        (double[] sHat, double[] sNorm) = Unit(student, batch, studentDim, eps);
        (double[] tHat, _) = Unit(teacher, batch, teacherDim, eps);
        (double[] pS, double[] rowSumS) = Probabilities(sHat, batch, studentDim);
        (double[] pT, _) = Probabilities(tHat, batch, teacherDim);

        double loss = 0, magnitude = 0;
        double b2 = (double)batch * batch;
        var gP = new double[batch * batch];
        for (int ij = 0; ij < batch * batch; ij++)
        {
            double logT = Math.Log(pT[ij] + eps), logS = Math.Log(pS[ij] + eps);
            loss += pT[ij] * (logT - logS) / b2;
            magnitude += pT[ij] * (Math.Abs(logT) + Math.Abs(logS)) / b2;
            gP[ij] = -pT[ij] / ((pS[ij] + eps) * b2);
        }

        // gK_ij = 0.5 (gP_ij - sum_k gP_ik P_s,ik) / rowsum_i(K').
        var gK = new double[batch * batch];
        for (int i = 0; i < batch; i++)
        {
            double along = 0;
            for (int k = 0; k < batch; k++) along += gP[i * batch + k] * pS[i * batch + k];
            for (int j = 0; j < batch; j++) gK[i * batch + j] = 0.5 * (gP[i * batch + j] - along) / rowSumS[i];
        }

        var gradient = new double[batch * studentDim];
        for (int i = 0; i < batch; i++)
        {
            // gX^_i = sum_j (gK_ij + gK_ji) X^_j.
            var gHat = new double[studentDim];
            for (int j = 0; j < batch; j++)
            {
                double w = gK[i * batch + j] + gK[j * batch + i];
                for (int d = 0; d < studentDim; d++) gHat[d] += w * sHat[j * studentDim + d];
            }

            // gx = gX^ / (n + eps) - x dot(x, gX^) / (n (n + eps)^2); at n = 0 the second term vanishes (x / (n + eps)
            // is x / eps to first order there).
            double n = sNorm[i];
            double xDotG = 0;
            for (int d = 0; d < studentDim; d++) xDotG += student[i * studentDim + d] * gHat[d];
            for (int d = 0; d < studentDim; d++)
            {
                double g = gHat[d] / (n + eps);
                if (n > 0) g -= student[i * studentDim + d] * xDotG / (n * (n + eps) * (n + eps));
                gradient[i * studentDim + d] = g;
            }
        }
        return (loss, gradient, magnitude);
    }

    /// <summary>Rows x / (||x|| + eps), any NaN set to 0, and each row's norm.</summary>
    public static (double[] Unit, double[] Norms) Unit(double[] x, int batch, int dim, double eps)
    {
        var unit = new double[x.Length];
        var norms = new double[batch];
        for (int i = 0; i < batch; i++)
        {
            double sum = 0;
            for (int d = 0; d < dim; d++) sum += x[i * dim + d] * x[i * dim + d];
            norms[i] = Math.Sqrt(sum);
            for (int d = 0; d < dim; d++)
            {
                double v = x[i * dim + d] / (norms[i] + eps);
                unit[i * dim + d] = double.IsNaN(v) ? 0 : v;
            }
        }
        return (unit, norms);
    }

    /// <summary>P = K' / rowsum(K') with K' = (X^ X^T + 1) / 2, and the row sums of K'.</summary>
    public static (double[] P, double[] RowSums) Probabilities(double[] unit, int batch, int dim)
    {
        var p = new double[batch * batch];
        var rowSums = new double[batch];
        for (int i = 0; i < batch; i++)
        {
            for (int j = 0; j < batch; j++)
            {
                double k = 0;
                for (int d = 0; d < dim; d++) k += unit[i * dim + d] * unit[j * dim + d];
                p[i * batch + j] = (k + 1) / 2;
                rowSums[i] += p[i * batch + j];
            }
            for (int j = 0; j < batch; j++) p[i * batch + j] /= rowSums[i];
        }
        return (p, rowSums);
    }
}
