using GpuDistill.Models;
using GpuDistill.Training;

namespace GpuDistill.Methods;

/// <summary>The settings of <c>dml</c> (scheme and term): the number of peers.</summary>
public sealed record MutualLearningSettings : MethodSettings
{
    /// <summary>K, peers trained together, at least 2.</summary>
    public int Peers { get; init; } = 2;

    /// <inheritdoc/>
    public override void Validate() => Require(Peers >= 2, "peers", Peers, "2 or more");
}

/// <summary>
/// Online distillation by deep mutual learning (Zhang et al. 2018): K peers of the student architecture start from
/// different initialisations and train together from scratch, each with its own optimiser and the loss
/// <c>ce:1,dml:1</c> (it learns from the others' detached outputs, loss-spec 1.5). No teacher. Reports every peer and
/// the peers' ensemble (mean of their softmax outputs). In a distributed run (<c>mpirun -np K ... --distributed</c>)
/// peer k trains on rank k and the peers exchange only their logits (<see cref="Distributed.PeerParallel"/>).
/// </summary>
/// <param name="settings">K, the number of peers.</param>
public sealed class MutualLearningScheme(MutualLearningSettings settings) : IScheme
{
    /// <summary>The registry's description.</summary>
    public static SchemeInfo Info { get; } = SchemeInfo.Of<MutualLearningSettings>("dml",
        "Deep mutual learning: K peers of the student trained together from scratch, each learning from the others (Zhang et al. 2018).",
        s => new MutualLearningScheme(s));

    /// <summary>The loss of every peer.</summary>
    public const string PeerLoss = "ce:1,dml:1";

    /// <inheritdoc/>
    public string Name => "dml";

    /// <inheritdoc/>
    public IReadOnlyList<SchemeRow> Run(SchemeContext context, string student, int seed)
    {
        ArgumentNullException.ThrowIfNull(context);
        int peers = settings.Peers;
        if (peers < 2) throw new ArgumentOutOfRangeException(nameof(settings), peers, "Mutual learning needs two peers at least.");
        // Peer k starts from its own initialisation; the data order is the run's seed for all of them.
        List<DistillModel> models = [.. Enumerable.Range(0, peers).Select(k => ModelFactory.Create(student, (seed * 1000L) + k))];
        try
        {
            // Another number of peers is another run: its checkpoints get their own name (two peers keep the plain one).
            string runName = peers == new MutualLearningSettings().Peers ? Name : $"{Name}-{peers}";
            var learners = models.Select((m, k) => new Learner($"{runName}/{student}/seed{seed}/peer{k + 1}", m,
                LossSpec.Parse(PeerLoss).Create(context.Recipe.Settings))).ToList();
            // Under mpirun --distributed each rank trains one peer (as many ranks as peers) and they exchange logits.
            string directory = context.ClaimDirectory(runName, student, seed, learners[0].Loss, scheme: Name);
            IReadOnlyList<TrainingRun> runs = context.Trainer(seed, Distributed.DistributedTraining.PeerRun()).FitTogether(learners, context.Train, context.Test, null,
                directory, context.Resume, context.CancellationToken);
            var rows = runs.Select((r, k) => new SchemeRow($"peer {k + 1}", r, Fidelity: context.Fidelity(models[k]))).ToList();
            double ensemble = context.EnsembleAccuracy(models);
            rows.Add(new SchemeRow("ensemble", SchemeContext.Combined($"{runName}/{student}/seed{seed}/ensemble", $"{peers} x {student}",
                runs, ensemble, seed, runs[0].TrainSeconds)));
            return rows;
        }
        finally
        {
            foreach (DistillModel m in models) m.Dispose();
        }
    }
}
