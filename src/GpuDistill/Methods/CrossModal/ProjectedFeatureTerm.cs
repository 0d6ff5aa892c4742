using GpuDistill.Models;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GpuDistill.Methods;

/// <summary>
/// Supervision transfer's feature loss (Gupta, Hoffman and Malik 2016; loss-spec-2 section 11) across modalities: the
/// teacher's mid-level feature map on the image, average-pooled to k x k cells, is matched in mean squared error by a
/// learned linear projection of the student's embedding on the paired measurement. The two inputs share no spatial
/// layout (an image and its sinogram), so the projection maps the student's vector to the teacher's pooled map.
/// The projection trains with the student and is saved with its checkpoints.
/// </summary>
/// <param name="teacherLayer">The teacher's layer path (a map [B, C, H, W]).</param>
/// <param name="cells">Cells per side of the pooled teacher map.</param>
public sealed class ProjectedFeatureTerm(string teacherLayer, int cells) : IAdaptedTerm, IDisposable
{
    private Linear? projection;

    /// <inheritdoc/>
    public string Name => "xm-features";

    /// <inheritdoc/>
    public bool NeedsTeacher => true;

    /// <inheritdoc/>
    public IReadOnlyList<string> StudentLayers { get; private set; } = [];

    /// <inheritdoc/>
    public IReadOnlyList<string> TeacherLayers { get; private set; } = [];

    /// <inheritdoc/>
    public Module? Adapter => projection;

    /// <inheritdoc/>
    public void Bind(DistillModel student, DistillModel teacher)
    {
        ArgumentNullException.ThrowIfNull(student);
        ArgumentNullException.ThrowIfNull(teacher);
        StudentLayers = [student.EmbeddingLayer];
        TeacherLayers = [teacherLayer];
    }

    /// <inheritdoc/>
    public void BuildAdapter(IReadOnlyDictionary<string, long[]> studentShapes, IReadOnlyDictionary<string, long[]> teacherShapes, long seed)
    {
        ArgumentNullException.ThrowIfNull(studentShapes);
        ArgumentNullException.ThrowIfNull(teacherShapes);
        long[] s = studentShapes[StudentLayers[0]], t = teacherShapes[TeacherLayers[0]];
        if (s.Length != 2)
            throw new ArgumentException($"The student's embedding must be [B, D]; got [{string.Join(", ", s)}].", nameof(studentShapes));
        if (t.Length != 4)
            throw new ArgumentException($"Teacher layer '{TeacherLayers[0]}' must be a map [B, C, H, W]; got [{string.Join(", ", t)}].", nameof(teacherShapes));
        manual_seed(seed);
        projection?.Dispose();
        projection = Linear(s[1], t[1] * cells * cells);
    }

    /// <inheritdoc/>
    public Tensor Compute(TermInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        if (projection is null)
            throw new InvalidOperationException("The feature projection is not built: the trainer builds it before the first step.");
        Tensor student = inputs.StudentFeature(Name, StudentLayers[0]);
        // The step's dispose scope frees the intermediates; the graph keeps what backward needs.
        Tensor target = functional.adaptive_avg_pool2d(inputs.TeacherFeature(Name, TeacherLayers[0]), [cells, cells]).flatten(1);
        return functional.mse_loss(projection.call(student), target);
    }

    /// <summary>Frees the projection.</summary>
    public void Dispose() => projection?.Dispose();
}
