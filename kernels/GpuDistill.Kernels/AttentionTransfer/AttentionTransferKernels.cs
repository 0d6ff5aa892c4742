using ILGPU;
using ILGPU.Algorithms;

namespace GpuDistill.Kernels.AttentionTransfer;

/// <summary>
/// The attention-map and attention-transfer kernels (Zagoruyko and Komodakis 2017, loss-spec 2.2) on NCHW float32
/// features. None uses group barriers, so the same code suits GPUs and ILGPU's CPU accelerator: the map-entry
/// kernels give each thread a run of positions of one example (one position on a GPU, where consecutive threads then
/// read consecutive addresses; a long run on the CPU, where each simulated thread costs microseconds), and the
/// per-example kernels give each thread one example.
/// </summary>
/// <remarks>
/// The fused loss is three launches: <see cref="PairChannelSums"/> (both features' channel sums v), <see
/// cref="ExampleLoss"/> (one thread per example: norms, the example's loss and g_v = d loss / d v_s) and <see
/// cref="FeatureGradient"/> (g_v[b, k] s p |f|^(p-1) sign f over the channels). The map alone is <see
/// cref="ChannelSums"/> then <see cref="NormalizeMaps"/>, and its backward <see cref="MapBackward"/> then <see
/// cref="FeatureGradient"/>.
/// </remarks>
public static class AttentionTransferKernels
{
    /// <summary>Channel sums of the student and the teacher at one run of map entries.</summary>
    /// <param name="thread">Index of the run (see <see cref="AttentionTransferLauncher.PositionsPerThread"/>).</param>
    /// <param name="student">Student feature, [B*Cs*H*W].</param>
    /// <param name="teacher">Teacher feature, [B*Ct*H*W].</param>
    /// <param name="studentSums">Output v_s, [B*H*W].</param>
    /// <param name="teacherSums">Output v_t, [B*H*W].</param>
    /// <param name="p">Launch scalars.</param>
    /// <param name="positionsPerThread">Positions per thread (1 on GPUs).</param>
    public static void PairChannelSums(Index1D thread, ArrayView<float> student, ArrayView<float> teacher,
        ArrayView<float> studentSums, ArrayView<float> teacherSums, AttentionTransferParameters p, int positionsPerThread)
    {
        AttentionMath.Run(thread, p.Student.Positions, positionsPerThread, out int b, out int first, out int end);
        AttentionMath.ChannelSums(student, studentSums, b, first, end, p.Student);
        AttentionMath.ChannelSums(teacher, teacherSums, b, first, end, p.Teacher);
    }

    /// <summary>
    /// One example's loss and the gradient with respect to its student channel sums. With a = v / max(||v||, eps),
    /// d = a_s - a_t and g = d loss / d a_s (2 d / (B H W) for the code form, d / (B ||d||) for the paper form, 0
    /// when d = 0): g_v = (g - a_s (a_s . g)) / ||v_s||, or g / eps when ||v_s|| &lt;= eps.
    /// </summary>
    /// <param name="example">b.</param>
    /// <param name="studentSums">v_s, [B*H*W].</param>
    /// <param name="teacherSums">v_t, [B*H*W].</param>
    /// <param name="mapGradient">Output g_v, [B*H*W].</param>
    /// <param name="exampleLoss">Output, each example's share of the loss, [B].</param>
    /// <param name="p">Launch scalars.</param>
    public static void ExampleLoss(Index1D example, ArrayView<float> studentSums, ArrayView<float> teacherSums,
        ArrayView<float> mapGradient, ArrayView<float> exampleLoss, AttentionTransferParameters p)
    {
        int positions = p.Student.Positions;
        long offset = (long)example.X * positions;
        MapScale s = AttentionMath.Scale(studentSums, offset, positions);
        MapScale t = AttentionMath.Scale(teacherSums, offset, positions);

        // sum d^2 and a_s . d in one read, both in two levels.
        float squares = 0f, dot = 0f;
        for (int k0 = 0; k0 < positions; k0 += AttentionMath.BlockLength)
        {
            int end = XMath.Min(positions, k0 + AttentionMath.BlockLength);
            float blockSquares = 0f, blockDot = 0f;
            for (int k = k0; k < end; k++)
            {
                float a = studentSums[offset + k] / s.Denominator;
                float d = a - teacherSums[offset + k] / t.Denominator;
                blockSquares += d * d;
                blockDot += a * d;
            }
            squares += blockSquares;
            dot += blockDot;
        }

        float loss, gradScale;
        if (p.IsPaper != 0)
        {
            float distance = XMath.Sqrt(squares);
            loss = p.LossScale * distance;
            // ||d|| is not differentiable at d = 0; 0 is its subgradient there and the loss is at its minimum.
            gradScale = distance > 0f ? p.LossScale / distance : 0f;
        }
        else
        {
            loss = p.LossScale * squares;
            gradScale = 2f * p.LossScale;
        }
        exampleLoss[example] = loss;

        // g = gradScale d, so a_s . g = gradScale (a_s . d); below the floor the clamp has no projection. g is
        // formed before dividing by the norm: |g| <= 2 LossScale however small ||d|| is, so g / eps stays finite.
        float projection = s.Projects ? dot : 0f;
        for (int k = 0; k < positions; k++)
        {
            float a = studentSums[offset + k] / s.Denominator;
            float d = a - teacherSums[offset + k] / t.Denominator;
            mapGradient[offset + k] = gradScale * (d - a * projection) / s.Denominator;
        }
    }

    /// <summary>
    /// d loss / d f[b, c, k] = g_v[b, k] s p |f|^(p-1) sign(f) at one run of map entries, for every channel.
    /// </summary>
    /// <param name="thread">Index of the run.</param>
    /// <param name="feature">The feature, [B*C*H*W].</param>
    /// <param name="mapGradient">g_v = d loss / d v, [B*H*W].</param>
    /// <param name="gradient">Output d loss / d f, [B*C*H*W].</param>
    /// <param name="m">The feature's map scalars.</param>
    /// <param name="positionsPerThread">Positions per thread (1 on GPUs).</param>
    public static void FeatureGradient(Index1D thread, ArrayView<float> feature, ArrayView<float> mapGradient,
        ArrayView<float> gradient, AttentionMapParameters m, int positionsPerThread)
    {
        int positions = m.Positions;
        AttentionMath.Run(thread, positions, positionsPerThread, out int b, out int first, out int end);
        long example = (long)b * m.ExampleElements;
        for (int k = first; k < end; k++)
        {
            // g_v is read once per position, not once per element: on the CPU accelerator every view access costs a
            // call, and on a GPU consecutive threads still touch consecutive addresses of each channel.
            float scale = mapGradient[(long)b * positions + k] * m.ChannelScale;
            long index = example + k;
            for (int c = 0; c < m.Channels; c++, index += positions)
                gradient[index] = scale * AttentionMath.PowerDerivative(feature[index], m);
        }
    }

    /// <summary>Channel sums of one feature at one run of map entries (the unnormalised map).</summary>
    /// <param name="thread">Index of the run.</param>
    /// <param name="feature">The feature, [B*C*H*W].</param>
    /// <param name="map">Output v, [B*H*W]; <see cref="NormalizeMaps"/> normalises it in place.</param>
    /// <param name="m">The map scalars.</param>
    /// <param name="positionsPerThread">Positions per thread (1 on GPUs).</param>
    public static void ChannelSums(Index1D thread, ArrayView<float> feature, ArrayView<float> map,
        AttentionMapParameters m, int positionsPerThread)
    {
        AttentionMath.Run(thread, m.Positions, positionsPerThread, out int b, out int first, out int end);
        AttentionMath.ChannelSums(feature, map, b, first, end, m);
    }

    /// <summary>Normalises one example's map in place, a = v / max(||v||, eps), and records ||v||.</summary>
    /// <param name="example">b.</param>
    /// <param name="map">v in, a out, [B*H*W].</param>
    /// <param name="norms">Output ||v_b||, [B] (the backward needs it).</param>
    /// <param name="m">The map scalars.</param>
    public static void NormalizeMaps(Index1D example, ArrayView<float> map, ArrayView<float> norms, AttentionMapParameters m)
    {
        int positions = m.Positions;
        long offset = (long)example.X * positions;
        MapScale s = AttentionMath.Scale(map, offset, positions);
        norms[example] = s.Norm;
        for (int k = 0; k < positions; k++) map[offset + k] /= s.Denominator;
    }

    /// <summary>
    /// The map's backward for one example: given G = d loss / d a, g_v = (G - a (a . G)) / ||v||, or G / eps when
    /// ||v|| &lt;= eps.
    /// </summary>
    /// <param name="example">b.</param>
    /// <param name="map">a from the forward, [B*H*W].</param>
    /// <param name="norms">||v_b|| from the forward, [B].</param>
    /// <param name="upstream">G, [B*H*W].</param>
    /// <param name="mapGradient">Output g_v, [B*H*W].</param>
    /// <param name="m">The map scalars.</param>
    public static void MapBackward(Index1D example, ArrayView<float> map, ArrayView<float> norms,
        ArrayView<float> upstream, ArrayView<float> mapGradient, AttentionMapParameters m)
    {
        int positions = m.Positions;
        long offset = (long)example.X * positions;
        var s = new MapScale(norms[example]);
        float dot = 0f;
        if (s.Projects)
        {
            for (int k0 = 0; k0 < positions; k0 += AttentionMath.BlockLength)
            {
                int end = XMath.Min(positions, k0 + AttentionMath.BlockLength);
                float block = 0f;
                for (int k = k0; k < end; k++) block += map[offset + k] * upstream[offset + k];
                dot += block;
            }
        }
        for (int k = 0; k < positions; k++)
            mapGradient[offset + k] = (upstream[offset + k] - map[offset + k] * dot) / s.Denominator;
    }
}
