using GpuDistill.Data;
using GpuDistill.Models;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GpuDistill.Training;

/// <summary>
/// How the <see cref="Trainer"/> spreads one run over several processes (data-parallel, or one online peer per
/// process). The trainer calls it at fixed points of the run and of every step; with none, the run is one process's.
/// </summary>
public interface IDistributedTraining
{
    /// <summary>This process's number, 0 to <see cref="Size"/> - 1; rank 0 writes the checkpoints.</summary>
    int Rank { get; }

    /// <summary>The number of processes.</summary>
    int Size { get; }

    /// <summary>The batches this process trains on, taken from the run's batches (e.g. its shard of each).</summary>
    /// <param name="run">The run's batches, the same on every process.</param>
    /// <returns>This process's batches.</returns>
    IBatchSource Batches(IBatchSource run);

    /// <summary>
    /// Checks that every process runs the same thing (an <see cref="ArgumentException"/> naming the first difference
    /// otherwise) and makes every process start from the same state; disposing the result ends the run's use of the
    /// processes (e.g. unhooks synchronised batch norm).
    /// </summary>
    /// <param name="start">The run's options, learners and settings.</param>
    /// <returns>What to dispose when the run ends.</returns>
    IDisposable Begin(DistributedStart start);

    /// <summary>Whether this process computes the steps of learner <paramref name="learner"/>.</summary>
    /// <param name="learner">The learner's position in the run.</param>
    /// <returns>True when it does (the others' logits come from <see cref="Logits"/>).</returns>
    bool Steps(int learner);

    /// <summary>Every learner's logits for this step, detached, given this process's ones.</summary>
    /// <param name="local">One entry per learner: its logits [B, C] where this process steps it, null elsewhere.</param>
    /// <returns>Every learner's logits [B, C].</returns>
    IReadOnlyList<Tensor> Logits(IReadOnlyList<Tensor?> local);

    /// <summary>The factor of this process's loss such that the sum of every process's scaled gradients is the gradient
    /// of the whole batch's mean loss.</summary>
    /// <param name="batch">This process's batch of the step.</param>
    /// <returns>The factor (1 for one process).</returns>
    double LossScale(ImageBatch batch);

    /// <summary>Called after a learner's gradients were cleared, before its backward pass.</summary>
    /// <param name="learner">The learner's position in the run.</param>
    void BeforeBackward(int learner);

    /// <summary>Called after a learner's backward pass, before its optimiser step (e.g. to sum the gradients).</summary>
    /// <param name="learner">The learner's position in the run.</param>
    void AfterBackward(int learner);

    /// <summary>Combines the epoch's running sums over the processes, in place.</summary>
    /// <param name="counts">Sums of losses, correct answers and images.</param>
    /// <param name="seconds">Times spent.</param>
    void Reduce(Span<double> counts, Span<double> seconds);

    /// <summary>At the end of each epoch, before the evaluation and the checkpoint: makes every process's copy of
    /// every learner the same.</summary>
    void EndEpoch();
}

/// <summary>What a distributed run starts with.</summary>
/// <param name="Options">The run's options.</param>
/// <param name="Learners">Every learner's parts, in order.</param>
/// <param name="Settings">Lines describing the run ("name: value"), compared between the processes; computed only when
/// called (they checksum the training set, which a single process need not do).</param>
public sealed record DistributedStart(TrainingOptions Options, IReadOnlyList<LearnerState> Learners, Func<IReadOnlyList<string>> Settings);

/// <summary>What one learner of a run is made of.</summary>
/// <param name="Model">The model.</param>
/// <param name="Adapters">Its terms' learned adapters, if any.</param>
/// <param name="Optimizer">Its optimiser.</param>
/// <param name="Trainable">The parameters its optimiser updates, in order.</param>
public sealed record LearnerState(DistillModel Model, Module? Adapters, NesterovSgd Optimizer, IReadOnlyList<TorchSharp.Modules.Parameter> Trainable);

/// <summary>A run on one process: every hook leaves things as they are.</summary>
internal sealed class OneProcess : IDistributedTraining, IDisposable
{
    public static OneProcess Instance { get; } = new();

    public int Rank => 0;

    public int Size => 1;

    public IBatchSource Batches(IBatchSource run) => run;

    public IDisposable Begin(DistributedStart start) => this;

    public bool Steps(int learner) => true;

    public IReadOnlyList<Tensor> Logits(IReadOnlyList<Tensor?> local) => [.. local.Select(l => l!)];

    public double LossScale(ImageBatch batch) => 1;

    public void BeforeBackward(int learner)
    {
    }

    public void AfterBackward(int learner)
    {
    }

    public void Reduce(Span<double> counts, Span<double> seconds)
    {
    }

    public void EndEpoch()
    {
    }

    public void Dispose()
    {
    }
}
