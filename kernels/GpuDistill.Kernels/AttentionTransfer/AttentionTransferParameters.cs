namespace GpuDistill.Kernels.AttentionTransfer;

/// <summary>
/// Scalars of one fused attention-transfer launch: the two maps' scalars (same B and H*W, channel counts may
/// differ), the form, and the loss's normaliser.
/// </summary>
public readonly struct AttentionTransferParameters
{
    /// <summary>Creates the launch scalars.</summary>
    /// <param name="batch">B.</param>
    /// <param name="studentChannels">C of the student feature.</param>
    /// <param name="teacherChannels">C of the teacher feature.</param>
    /// <param name="positions">H*W, the same for both (pool before).</param>
    /// <param name="exponent">p &gt; 0.</param>
    /// <param name="form">Which loss.</param>
    public AttentionTransferParameters(int batch, int studentChannels, int teacherChannels, int positions,
        float exponent, AttentionTransferForm form)
    {
        Student = new AttentionMapParameters(batch, studentChannels, positions, exponent, form);
        Teacher = new AttentionMapParameters(batch, teacherChannels, positions, exponent, form);
        IsPaper = form == AttentionTransferForm.Paper ? 1 : 0;
        long normaliser = form == AttentionTransferForm.Paper ? batch : (long)batch * positions;
        LossScale = normaliser > 0 ? 1f / normaliser : 0f;
    }

    /// <summary>The student map's scalars.</summary>
    public AttentionMapParameters Student { get; }

    /// <summary>The teacher map's scalars.</summary>
    public AttentionMapParameters Teacher { get; }

    /// <summary>1 for <see cref="AttentionTransferForm.Paper"/>, 0 for <see cref="AttentionTransferForm.Code"/>.</summary>
    public int IsPaper { get; }

    /// <summary>1/(B*H*W) for the code form, 1/B for the paper form.</summary>
    public float LossScale { get; }

    /// <summary>The form these scalars were made for.</summary>
    public AttentionTransferForm Form => IsPaper != 0 ? AttentionTransferForm.Paper : AttentionTransferForm.Code;
}
