namespace GpuDistill.Kernels.AttentionTransfer;

/// <summary>
/// Scalars of the attention map of one feature tensor [B, C, H, W]: v[b, k] = s sum_c |f[b, c, k]|^p over the
/// H*W positions k, with s = 1/C (<see cref="AttentionTransferForm.Code"/>) or 1 (<see cref="AttentionTransferForm.Paper"/>),
/// and a[b] = v[b] / max(||v[b]||_2, 1e-12).
/// </summary>
public readonly struct AttentionMapParameters
{
    /// <summary>The F.normalize floor of the map's norm.</summary>
    public const float Epsilon = 1e-12f;

    /// <summary>Creates the scalars of one feature tensor.</summary>
    /// <param name="batch">B.</param>
    /// <param name="channels">C.</param>
    /// <param name="positions">H*W.</param>
    /// <param name="exponent">p &gt; 0.</param>
    /// <param name="form">Channel mean (code) or channel sum (paper).</param>
    public AttentionMapParameters(int batch, int channels, int positions, float exponent, AttentionTransferForm form)
    {
        Batch = batch;
        Channels = channels;
        Positions = positions;
        Exponent = exponent;
        // Exact small exponents get multiplications instead of pow: p = 2 is the default of every reference.
        ExponentKind = exponent == 2f ? 2 : exponent == 1f ? 1 : 0;
        ChannelScale = form == AttentionTransferForm.Paper || channels <= 0 ? 1f : 1f / channels;
    }

    /// <summary>B, examples.</summary>
    public int Batch { get; }

    /// <summary>C, channels.</summary>
    public int Channels { get; }

    /// <summary>H*W, positions of one map.</summary>
    public int Positions { get; }

    /// <summary>p.</summary>
    public float Exponent { get; }

    /// <summary>2 when p == 2, 1 when p == 1, 0 for pow (an int, since kernels take plain fields).</summary>
    public int ExponentKind { get; }

    /// <summary>s: 1/C for the channel mean, 1 for the channel sum.</summary>
    public float ChannelScale { get; }

    /// <summary>C*H*W, elements of one example.</summary>
    public int ExampleElements => Channels * Positions;

    /// <summary>B*C*H*W, elements of the feature tensor (as a long: the launcher checks it fits an int).</summary>
    public long Elements => (long)Batch * Channels * Positions;

    /// <summary>B*H*W, entries of the map.</summary>
    public long MapEntries => (long)Batch * Positions;
}
