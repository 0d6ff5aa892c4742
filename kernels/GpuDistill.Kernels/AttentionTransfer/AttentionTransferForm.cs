namespace GpuDistill.Kernels.AttentionTransfer;

/// <summary>
/// Which of the two published attention-transfer losses to compute (loss-spec 2.2). Both compare the student's and
/// the teacher's attention maps a = normalize(sum or mean over channels of |f|^p) per example.
/// </summary>
public enum AttentionTransferForm
{
    /// <summary>
    /// The form of the public code (RepDistiller, mdistiller): the map from the channel mean, and the loss is the mean
    /// over B*H*W of (a_s - a_t)^2. Those codes raise f to the p-th power without the absolute value; this takes
    /// |f|^p, which is the same for even p (the default p = 2) and stays a valid attention map for any other p.
    /// </summary>
    Code,

    /// <summary>
    /// The form of the paper (torchdistill's mode 'paper'): the map from the channel sum, and the loss is
    /// (1/B) sum_b ||a_s,b - a_t,b||_2, the norm itself, not squared.
    /// </summary>
    Paper,
}
