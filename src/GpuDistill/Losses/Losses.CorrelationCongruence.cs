using GpuDistill.Compute;
using GpuDistill.Autograd;
using GpuDistill.Kernels.Relations.CorrelationCongruence;
using GpuDistill.Validation;
using static TorchSharp.torch;

namespace GpuDistill;

public static partial class Losses
{
    /// <summary>
    /// Correlation congruence as RepDistiller computes it (from the code the CC authors shared, loss-spec 3.4a): with
    /// delta = |f_s - f_t|, the mean over consecutive examples i = 0 .. B-2 of sum_d delta_i,d delta_i+1,d.
    /// </summary>
    /// <remarks>
    /// f_s and f_t are meant to be trainable embeddings of the last features (RepDistiller's LinearEmbed to 128
    /// dimensions on each side), so unlike the other losses the teacher input learns too: when it requires grad it
    /// receives the negated student gradient. Pass a detached teacher to train the student side alone. The result
    /// depends on the order of the batch. RepDistiller weights it 0.02. Compare
    /// <see cref="CorrelationCongruenceKernel"/>, torchdistill's incompatible definition.
    /// </remarks>
    /// <param name="student">Student embeddings [B, ...], B &gt;= 2, float32, CPU.</param>
    /// <param name="teacher">Teacher embeddings of the student's shape, float32, CPU.</param>
    /// <param name="device">Accelerator to run on; <see cref="ComputeDevice.Default"/> when null.</param>
    /// <returns>A scalar float32 tensor.</returns>
    public static Tensor CorrelationCongruenceRepDistiller(Tensor student, Tensor teacher, ComputeDevice? device = null)
    {
        TensorChecks.RequireRelationPair(student, nameof(student), teacher, nameof(teacher), 2,
            "the loss pairs consecutive examples");
        TensorChecks.RequireSameShape(student, nameof(student), teacher, nameof(teacher));
        return BatchRelation(student, teacher, device, RelationComposites.CorrelationCongruenceRepDistiller,
            (s, t, request) => CorrelationCongruenceRepDistillerFunction.apply(s, t, request));
    }

    /// <summary>
    /// Correlation congruence as torchdistill's CCKDLoss computes it (Peng et al., ICCV 2019; loss-spec 3.4b):
    /// ||C_s - C_t||_F / B^2 (a norm, not squared), where C = k(F) is the B x B correlation of the batch under a
    /// bilinear kernel (dot products) or the order-P Taylor series of a Gaussian RBF,
    /// exp(-2 gamma) sum_{p=0..P} (2 gamma)^p / p! dot(x, y)^p.
    /// </summary>
    /// <remarks>
    /// <c>loss.backward()</c> gives the student its gradient times the upstream gradient and the teacher nothing.
    /// The norm has no gradient where C_s = C_t; there the student gets 0 (as PyTorch's does). Student and teacher
    /// may have different widths. torchdistill's example uses the Gaussian with gamma 0.4 and P = 2.
    /// </remarks>
    /// <param name="student">Student features [B, ...], float32, CPU (flattened per example).</param>
    /// <param name="teacher">Teacher features [B, ...], float32, CPU (never receives a gradient).</param>
    /// <param name="kernel">The correlation kernel.</param>
    /// <param name="gamma">The Gaussian's gamma (finite, &gt;= 0; ignored for bilinear).</param>
    /// <param name="order">P, the Taylor order of the Gaussian (1 to 16; ignored for bilinear).</param>
    /// <param name="device">Accelerator to run on; <see cref="ComputeDevice.Default"/> when null.</param>
    /// <returns>A scalar float32 tensor.</returns>
    public static Tensor CorrelationCongruenceKernel(Tensor student, Tensor teacher,
        CorrelationKernel kernel = CorrelationKernel.Bilinear, double gamma = 0.4, int order = 2,
        ComputeDevice? device = null)
    {
        TensorChecks.RequireRelationPair(student, nameof(student), teacher, nameof(teacher), 1, "one example at least");
        if (!Enum.IsDefined(kernel))
            throw new ArgumentOutOfRangeException(nameof(kernel), kernel, $"{nameof(kernel)} must be Bilinear or Gaussian.");
        if (kernel == CorrelationKernel.Gaussian)
        {
            TensorChecks.RequireWeight(gamma, nameof(gamma));
            if (order is < 1 or > 16)
                throw new ArgumentOutOfRangeException(nameof(order), order, $"{nameof(order)} must be in [1, 16].");
        }
        // Not disposed here: autograd and the caller's dispose scope own the flattened views.
        Tensor flatStudent = student.flatten(1);
        Tensor flatTeacher = teacher.flatten(1);
        var request = new CorrelationCongruenceKernelRequest(device ?? ComputeDevice.Default,
            new CorrelationKernelParameters(kernel, gamma, order));
        return CorrelationCongruenceKernelFunction.apply(flatStudent, flatTeacher, request);
    }
}
