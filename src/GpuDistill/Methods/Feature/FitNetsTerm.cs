using GpuDistill.Features;
using GpuDistill.Models;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GpuDistill.Methods;

/// <summary>
/// FitNets hints (Romero et al. 2015; loss-spec 2.1): a learned regressor maps the student's hint layer to the
/// teacher's shape, and the term is the mean squared difference, mean(( r(F_s) - F_t )^2) over B*C*H*W. Default
/// layers: the middle feature layer of each model. The regressor trains with the student and is counted apart.
/// </summary>
/// <param name="settings">Layers named by the user, if any.</param>
public sealed class FitNetsTerm(LayerSettings settings) : PairedFeatureTerm(settings), IAdaptedTerm, IDisposable
{
    /// <summary>The registry's description: method fitnets = fitnets:100,ce:1.</summary>
    public static TermInfo Info { get; } = TermInfo.Of<LayerSettings>("fitnets",
        "FitNets hints: a learned regressor maps a student layer to the teacher's, MSE (Romero et al. 2015); default: the middle stage.",
        s => new FitNetsTerm(s), new BuiltInMethod("fitnets", "fitnets:100,ce:1")
        {
            Grid = TuningGrid.Scaled("fitnets:100,ce:1", 0.1, 0.3, 1),
        });

    private List<HintRegressor> regressors = [];
    private AdapterList? adapter;

    /// <inheritdoc/>
    public override string Name => "fitnets";

    /// <inheritdoc/>
    public Module? Adapter => adapter;

    /// <inheritdoc/>
    public void BuildAdapter(IReadOnlyDictionary<string, long[]> studentShapes, IReadOnlyDictionary<string, long[]> teacherShapes, long seed)
    {
        ArgumentNullException.ThrowIfNull(studentShapes);
        ArgumentNullException.ThrowIfNull(teacherShapes);
        // Seeded so a run's adapters start the same every time (the trainer seeds again before the first step).
        manual_seed(seed);
        regressors = [.. StudentLayers.Select((layer, i) => new HintRegressor(studentShapes[layer][1..], teacherShapes[TeacherLayers[i]][1..]))];
        adapter = new AdapterList(regressors);
    }

    /// <summary>Frees the regressors.</summary>
    public void Dispose() => adapter?.Dispose();

    /// <inheritdoc/>
    protected override IReadOnlyList<string> DefaultLayers(DistillModel model) => LayerChoice.Middle(model);

    /// <inheritdoc/>
    protected override Tensor PairLoss(int index, Tensor student, Tensor teacher)
    {
        if (adapter is null)
            throw new InvalidOperationException("FitNets' regressor is not built: the trainer builds it before the first step.");
        Tensor mapped = regressors[index].call(student);
        if (!mapped.shape.SequenceEqual(teacher.shape))
            throw new InvalidOperationException(
                $"FitNets' regressor gave [{string.Join(", ", mapped.shape)}] for teacher layer '{TeacherLayers[index]}' of shape [{string.Join(", ", teacher.shape)}].");
        return functional.mse_loss(mapped, teacher);
    }
}
