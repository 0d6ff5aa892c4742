using GpuDistill.Compute;
using GpuDistill.Features;
using GpuDistill.Interop;
using GpuDistill.Models;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GpuDistill.Methods;

/// <summary>
/// FSP (Yim et al. 2017; loss-spec 3.3): the flow matrices between consecutive layers of the student match the
/// teacher's, summed over the consecutive pairs of the layers read (default: every feature layer, so stage1->stage2
/// and stage2->stage3). RepDistiller weights it 50.
/// </summary>
/// <remarks>
/// FSP compares channels one to one, so the reference code refuses a student whose widths differ from the teacher's.
/// Here a student layer whose channel count differs gets a learned 1x1 convolution and batch norm to the teacher's
/// count first (trained with the student, counted apart, like FitNets' regressor); layers that match are used as
/// they are. RepDistiller runs FSP only as an initialisation stage; here it is a term of the main loss, as in
/// torchdistill, so it combines with the others. On the host the projections are not applied to the maps: a
/// projection is an affine map of the channels (batch norm's statistics follow from the input's moments), so it is
/// applied to each pair's Cs2 x Cs1 flow matrix instead (<see cref="Losses.ProjectedFlowMatrix"/>); accelerators
/// project the maps and run the FSP kernel.
/// </remarks>
/// <param name="settings">Layers named by the user, if any (two at least, in network order).</param>
public sealed class FlowMatrixTerm(LayerSettings settings) : IAdaptedTerm, IDisposable
{
    /// <summary>The registry's description: method fsp = fsp:50,ce:1.</summary>
    public static TermInfo Info { get; } = TermInfo.Of<LayerSettings>("fsp",
        "FSP: flow matrices between consecutive layers match (Yim et al. 2017); default: every stage, consecutive pairs.",
        s => new FlowMatrixTerm(s), new BuiltInMethod("fsp", "fsp:50,ce:1")
        {
            Grid = TuningGrid.Scaled("fsp:50,ce:1", 0.1, 0.3, 1),
        });

    private List<ChannelProjection?> projections = [];

    // The teacher pairs' flow matrices per training image (constants, and most of the term's work on the host):
    // 10,240 floats an image for teacher-cnn's two pairs, 2.3 GB for 55,000 images.
    private readonly List<TeacherDerivedCache> teacherFlows = [];
    private AdapterList? adapter;

    /// <inheritdoc/>
    public string Name => "fsp";

    /// <inheritdoc/>
    public bool NeedsTeacher => true;

    /// <inheritdoc/>
    public IReadOnlyList<string> StudentLayers { get; private set; } = [];

    /// <inheritdoc/>
    public IReadOnlyList<string> TeacherLayers { get; private set; } = [];

    /// <inheritdoc/>
    public Module? Adapter => adapter;

    /// <inheritdoc/>
    public void Bind(DistillModel student, DistillModel teacher)
    {
        (StudentLayers, TeacherLayers) = LayerChoice.Resolve(Name, settings, student, teacher, LayerChoice.All);
        if (StudentLayers.Count < 2)
            throw new ArgumentException(
                $"Loss term 'fsp' relates consecutive layers, so it needs two layers at least; got {string.Join(", ", StudentLayers)}.",
                nameof(student));
    }

    /// <inheritdoc/>
    public void BuildAdapter(IReadOnlyDictionary<string, long[]> studentShapes, IReadOnlyDictionary<string, long[]> teacherShapes, long seed)
    {
        ArgumentNullException.ThrowIfNull(studentShapes);
        ArgumentNullException.ThrowIfNull(teacherShapes);
        manual_seed(seed);
        projections = [];
        var modules = new List<Module>();
        for (int i = 0; i < StudentLayers.Count; i++)
        {
            long[] s = studentShapes[StudentLayers[i]], t = teacherShapes[TeacherLayers[i]];
            if (s.Length != 4 || t.Length != 4)
                throw new ArgumentException(
                    $"FSP needs feature maps [B, C, H, W]; layer pair '{StudentLayers[i]}'/'{TeacherLayers[i]}' has shapes [{string.Join(", ", s)}] and [{string.Join(", ", t)}].",
                    nameof(studentShapes));
            ChannelProjection? projection = s[1] == t[1] ? null : new ChannelProjection(s[1], t[1]);
            projections.Add(projection);
            if (projection is not null) modules.Add(projection);
        }
        adapter = new AdapterList(modules);
    }

    /// <inheritdoc/>
    public Tensor Compute(TermInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        if (adapter is null)
            throw new InvalidOperationException("FSP's channel projections are not built: the trainer builds them before the first step.");
        var student = new Tensor[StudentLayers.Count];
        for (int i = 0; i < student.Length; i++) student[i] = inputs.StudentFeature(Name, StudentLayers[i]);
        Tensor Teacher(int i) => inputs.TeacherFeature(Name, TeacherLayers[i]);
        Func<int, Tensor> pairLoss;
        if (ComputeDevice.Default.UsesHostSimd && student.Select((s, i) => projections[i]?.MapsAffinely(s) ?? true).All(x => x))
        {
            // The projections applied to each pair's small flow matrix, not to every position of the maps.
            (Tensor, Tensor)?[] maps = [.. student.Select((s, i) => projections[i]?.AffineMap(s))];
            while (teacherFlows.Count < student.Length - 1) teacherFlows.Add(new TeacherDerivedCache());
            pairLoss = i => Losses.ProjectedFlowMatrix(student[i], maps[i], student[i + 1], maps[i + 1], Teacher(i), Teacher(i + 1),
                teacherFlows[i].GetOrCompute(inputs.TeacherExamples, () => Losses.TeacherFlowMatrix(Teacher(i), Teacher(i + 1))));
        }
        else
        {
            for (int i = 0; i < student.Length; i++)
            {
                if (projections[i] is { } projection) student[i] = projection.call(student[i]);
            }
            pairLoss = i => Losses.FlowMatrix(student[i], student[i + 1], Teacher(i), Teacher(i + 1));
        }
        Tensor total = pairLoss(0);
        for (int i = 1; i + 1 < student.Length; i++) total = total.add(pairLoss(i), Scalars.One);
        return total;
    }

    /// <summary>How many pair batches' teacher flows were read from the per-image cache, and how many computed.</summary>
    public (long Gathered, long Computed) TeacherFlowBatches =>
        (teacherFlows.Sum(c => c.Batches.Gathered), teacherFlows.Sum(c => c.Batches.Computed));

    /// <summary>Frees the projections.</summary>
    public void Dispose() => adapter?.Dispose();
}
