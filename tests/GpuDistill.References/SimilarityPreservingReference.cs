namespace GpuDistill.References;

/// <summary>
/// Float64 reference of the similarity-preserving loss (loss-spec 3.2), plain loops from the definitions:
/// G = F F^T, each row divided by max(||row||, 1e-12), L = ||G^_t - G^_s||_F^2 / B^2, and the spec's gradient.
/// </summary>
public static class SimilarityPreservingReference
{
    public static (double Loss, double[] Gradient) Compute(double[] student, double[] teacher, int batch,
        int studentWidth, int teacherWidth)
    {
        double[] gramS = RelationalReferenceMath.Gram(student, batch, studentWidth);
        double[] gramT = RelationalReferenceMath.Gram(teacher, batch, teacherWidth);
        (double[] normalS, double[] normS) = RowNormalize(gramS, batch);
        (double[] normalT, _) = RowNormalize(gramT, batch);
        double scale = 1.0 / ((double)batch * batch);

        double loss = 0;
        var h = new double[batch * batch];
        for (int e = 0; e < h.Length; e++)
        {
            double diff = normalT[e] - normalS[e];
            loss += scale * diff * diff;
            h[e] = -2 * scale * diff;
        }

        var gramGradient = new double[batch * batch];
        for (int i = 0; i < batch; i++)
        {
            double dot = 0;
            for (int j = 0; j < batch; j++) dot += normalS[i * batch + j] * h[i * batch + j];
            bool clamped = normS[i] < 1e-12;
            double n = Math.Max(normS[i], 1e-12);
            for (int j = 0; j < batch; j++)
            {
                int e = i * batch + j;
                gramGradient[e] = clamped ? h[e] / n : (h[e] - normalS[e] * dot) / n;
            }
        }
        return (loss, RelationalReferenceMath.SymmetricProduct(gramGradient, student, batch, studentWidth));
    }

    private static (double[] Normal, double[] Norms) RowNormalize(double[] gram, int batch)
    {
        var normal = new double[gram.Length];
        var norms = new double[batch];
        for (int i = 0; i < batch; i++)
        {
            double sum = 0;
            for (int j = 0; j < batch; j++) sum += gram[i * batch + j] * gram[i * batch + j];
            norms[i] = Math.Sqrt(sum);
            for (int j = 0; j < batch; j++) normal[i * batch + j] = gram[i * batch + j] / Math.Max(norms[i], 1e-12);
        }
        return (normal, norms);
    }
}
