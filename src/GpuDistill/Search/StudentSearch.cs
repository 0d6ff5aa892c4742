using System.Diagnostics;
using System.Globalization;
using GpuDistill.Data;
using GpuDistill.Deployment;
using GpuDistill.Methods;
using GpuDistill.Models;
using GpuDistill.Training;

namespace GpuDistill.Search;

/// <summary>What <see cref="StudentSearch.Run"/> searches, under which budget, and how long it trains each candidate.</summary>
public sealed record SearchOptions
{
    /// <summary>Most parameters a candidate may have (&gt; 0).</summary>
    public long BudgetParameters { get; init; }

    /// <summary>
    /// The least share of <see cref="BudgetParameters"/> a drawn or mutated candidate must use, in [0, 1): those below
    /// it are rejected like those above the budget (0 keeps every size).
    /// </summary>
    /// <remarks>Why: uniform draws over the stage lists land mostly far below the budget (3-13k of 18.5k parameters
    /// in the widened space's first generation on the full data), and the short fitness prefers small networks that
    /// learn fast, so the searches picked half-budget students; a band below the budget spends the search where the
    /// students that use the budget are.</remarks>
    public double MinimumBudgetShare { get; init; }

    /// <summary>Most milliseconds per image at batch 1 in ONNX Runtime on this machine (one intra-op thread); null for no latency budget.</summary>
    public double? BudgetMilliseconds { get; init; }

    /// <summary>The choices.</summary>
    public SearchSpace Space { get; init; } = new();

    /// <summary>Candidates trained in the first generation, and the population kept (2 or more).</summary>
    public int Population { get; init; } = 8;

    /// <summary>Generations of mutation after the first; each trains half a population of children (0 is a random search).</summary>
    public int Generations { get; init; } = 3;

    /// <summary>Epochs of each candidate's KD training (the fitness), 1 or more.</summary>
    public int Epochs { get; init; } = 1;

    /// <summary>The candidates' training schedule (epochs are <see cref="Epochs"/>; the seed is also the search's).</summary>
    public TrainingOptions Training { get; init; } = new();

    /// <summary>The candidates' loss (the recipe's KD by default).</summary>
    public string Loss { get; init; } = "kd:0.9,ce:0.1";

    /// <summary>
    /// The best candidates of the evolutionary rounds that are trained again, from scratch on a schedule of
    /// <see cref="FinalistEpochs"/>, to pick the winner (successive halving's last round); 0 for none, when the
    /// winner is the best short-training fitness.
    /// </summary>
    /// <remarks>
    /// Why: the short training ranks networks by how fast they learn, and on the full data the best few fitnesses lie
    /// within the noise of one short run (0.3 points), so the pick among them is close to a coin toss; a longer
    /// schedule for those few reads them nearer to where they end.
    /// </remarks>
    public int Finalists { get; init; }

    /// <summary>Epochs of each finalist's training (more than <see cref="Epochs"/>; used when <see cref="Finalists"/> &gt; 0).</summary>
    public int FinalistEpochs { get; init; }

    /// <summary>Timed ONNX Runtime runs per batch size of each candidate's latency (median), 3 or more.</summary>
    public int LatencyRepeats { get; init; } = 9;

    /// <summary>Throws on a bad value, naming it.</summary>
    public void Validate()
    {
        if (BudgetParameters <= 0) throw new ArgumentOutOfRangeException(nameof(BudgetParameters), BudgetParameters, "the parameter budget must be > 0.");
        if (BudgetMilliseconds is double ms && !(ms > 0 && double.IsFinite(ms)))
            throw new ArgumentOutOfRangeException(nameof(BudgetMilliseconds), ms, "the latency budget must be finite and > 0 ms.");
        if (!(MinimumBudgetShare >= 0 && MinimumBudgetShare < 1))
            throw new ArgumentOutOfRangeException(nameof(MinimumBudgetShare), MinimumBudgetShare, "the least budget share must be in [0, 1).");
        if (Population < 2) throw new ArgumentOutOfRangeException(nameof(Population), Population, "the population must be 2 or more.");
        if (Generations < 0) throw new ArgumentOutOfRangeException(nameof(Generations), Generations, "generations must be >= 0.");
        if (Epochs < 1) throw new ArgumentOutOfRangeException(nameof(Epochs), Epochs, "each candidate trains 1 epoch or more.");
        if (Finalists < 0) throw new ArgumentOutOfRangeException(nameof(Finalists), Finalists, "finalists must be >= 0 (0 for no final round).");
        if (Finalists > 0 && FinalistEpochs <= Epochs)
            throw new ArgumentOutOfRangeException(nameof(FinalistEpochs), FinalistEpochs, $"the finalists' training must be longer than the candidates' {Epochs} epoch(s).");
        if (LatencyRepeats < 3) throw new ArgumentOutOfRangeException(nameof(LatencyRepeats), LatencyRepeats, "latency needs 3 repeats or more.");
        ArgumentNullException.ThrowIfNull(Space, nameof(Space));
        Space.Validate();
        LossSpec.Parse(Loss);
        (Training with { Epochs = Epochs }).Validate();
    }
}

/// <summary>One evaluated candidate.</summary>
/// <param name="Architecture">Its factory name.</param>
/// <param name="Parameters">Its parameter count.</param>
/// <param name="MillisecondsBatch1">ONNX Runtime latency per image at batch 1 (median, one thread).</param>
/// <param name="MillisecondsBatch256">ONNX Runtime latency per image at batch 256 (median, one thread).</param>
/// <param name="ValidationAccuracy">Accuracy on the search's validation split after the short KD training.</param>
/// <param name="Generation">0 for the first population, g for the g-th generation of children.</param>
/// <param name="TrainSeconds">Its training time (both trainings for a finalist).</param>
/// <param name="FinalistAccuracy">Validation accuracy after the finalists' longer training; null when it was not a finalist.</param>
public sealed record SearchCandidate(string Architecture, long Parameters, double MillisecondsBatch1, double MillisecondsBatch256,
    double ValidationAccuracy, int Generation, double TrainSeconds, double? FinalistAccuracy = null);

/// <summary>What a search found, and what it cost.</summary>
/// <param name="Candidates">Every evaluated candidate, in evaluation order.</param>
/// <param name="Winner">The best finalist accuracy when there was a final round, else the best validation accuracy
/// (fewer parameters among equals).</param>
/// <param name="Options">The options it ran with.</param>
/// <param name="SearchSeconds">Wall time of the whole search (teacher outputs, latency measurements, trainings).</param>
/// <param name="Rejected">Architectures drawn and rejected for the budget (never trained).</param>
/// <param name="TrainImages">Images of the search's training split.</param>
/// <param name="ValidationImages">Images of its validation split.</param>
public sealed record SearchResult(IReadOnlyList<SearchCandidate> Candidates, SearchCandidate Winner, SearchOptions Options,
    double SearchSeconds, int Rejected, int TrainImages, int ValidationImages)
{
    /// <summary>Candidates no other beats on both accuracy and <paramref name="cost"/> (the Pareto front), by cost.</summary>
    public IReadOnlyList<SearchCandidate> ParetoFront(Func<SearchCandidate, double> cost) =>
        [.. Candidates.Where(c => !Candidates.Any(o => cost(o) <= cost(c) && o.ValidationAccuracy >= c.ValidationAccuracy
            && (cost(o) < cost(c) || o.ValidationAccuracy > c.ValidationAccuracy))).OrderBy(cost)];
}

/// <summary>
/// Teacher-guided student search, evolutionary (loss-spec-2 9 describes DNA, the block-wise alternative): every
/// candidate within the budget is trained for a few epochs with KD from the teacher, and its accuracy on a held-out
/// validation split is its fitness. The first population is drawn uniformly; each generation mutates one gene
/// (a stage's width, depth or kernel size, an MLP width) of parents drawn by tournament from the best half, and the
/// population keeps the best. With <see cref="SearchOptions.Finalists"/>, the best few are then trained again on a
/// longer schedule and the best of that round wins. Costs are measured before any training: parameters on the built model, latency per
/// image in ONNX Runtime (the model exported as it would be served).
/// </summary>
/// <remarks>
/// Why evolutionary and not DNA: DNA ranks each block by how well it reproduces the teacher's block output from the
/// teacher's block input, so a block's output width must equal the teacher's; the library's students differ from the
/// teacher mostly in width, which that supervision cannot rank without adapters that are not part of the deployed
/// student. The students here are small enough that a short KD training of each costs seconds, and its fitness is
/// the quantity the search is for (a student's accuracy when distilled).
/// </remarks>
public static class StudentSearch
{
    /// <summary>Runs the search.</summary>
    /// <param name="teacher">The trained teacher (put in eval mode, frozen).</param>
    /// <param name="train">The search's training split.</param>
    /// <param name="validation">Its validation split (never the test set).</param>
    /// <param name="options">Budget, space, population, generations, epochs.</param>
    /// <param name="workDirectory">Where the candidates' ONNX files go.</param>
    /// <param name="log">Receives a line per candidate.</param>
    /// <param name="cancellationToken">Stops between steps.</param>
    /// <returns>The candidates, the winner and the cost.</returns>
    /// <exception cref="ArgumentException">A budget that no candidate of the space meets; the message names the smallest candidate and its cost.</exception>
    public static SearchResult Run(DistillModel teacher, ImageDataset train, ImageDataset validation, SearchOptions options,
        string workDirectory, Action<string>? log = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(teacher);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(validation);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(workDirectory);
        options.Validate();
        log ??= _ => { };
        long started = Stopwatch.GetTimestamp();
        var random = new Random(options.Training.Seed);
        Func<StudentArchitecture, bool, (long Parameters, OnnxLatencyResult? Latency)> cost = Costs(options, workDirectory);
        RequireFeasible(options, cost);

        using TeacherOutputs outputs = TeacherOutputs.Create(teacher, train, cache: true);
        var evaluated = new List<SearchCandidate>();
        var seen = new HashSet<StudentArchitecture>();
        int rejected = 0;

        StudentArchitecture? Draw(Func<StudentArchitecture> next)
        {
            for (int attempt = 0; attempt < 200; attempt++)
            {
                StudentArchitecture a = next();
                if (seen.Contains(a)) continue;
                seen.Add(a);
                if (Fits(options, a, cost)) return a;
                rejected++;
            }
            return null;
        }

        TrainingRun Train(StudentArchitecture architecture, int epochs)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using DistillModel model = architecture.Create(options.Training.Seed);
            WeightedLoss loss = LossSpec.Parse(options.Loss).Create();
            return new Trainer(options.Training with { Epochs = epochs }).Fit($"search/{architecture.Name}", model, loss,
                train, validation, loss.NeedsTeacher ? outputs : null, null, resume: false, cancellationToken);
        }

        void Evaluate(StudentArchitecture architecture, int generation)
        {
            (long parameters, OnnxLatencyResult? latency) = cost(architecture, true);
            TrainingRun run = Train(architecture, options.Epochs);
            var candidate = new SearchCandidate(architecture.Name, parameters, latency!.MillisecondsPerImageBatch1,
                latency.MillisecondsPerImageBatch256, run.FinalAccuracy, generation, run.TrainSeconds);
            evaluated.Add(candidate);
            log(string.Create(CultureInfo.InvariantCulture,
                $"search: generation {generation}, {candidate.Architecture}: {parameters:N0} parameters, {candidate.MillisecondsBatch1:F4} ms/img, validation accuracy {candidate.ValidationAccuracy:P2} ({run.TrainSeconds:F0} s)"));
        }

        for (int i = 0; i < options.Population; i++)
        {
            StudentArchitecture? a = Draw(() => options.Space.Sample(random));
            if (a is null) break;
            Evaluate(a, 0);
        }
        if (evaluated.Count == 0)
        {
            // Every draw broke the budget: the smallest candidates fit (checked above), so search from them.
            foreach (StudentArchitecture a in options.Space.Smallest().Where(a => Fits(options, a, cost, floor: false)))
            {
                seen.Add(a);
                Evaluate(a, 0);
            }
        }

        for (int g = 1; g <= options.Generations; g++)
        {
            SearchCandidate[] parents = [.. Ranked(evaluated).Take(Math.Max(2, options.Population / 2))];
            int children = (options.Population + 1) / 2;
            for (int c = 0; c < children; c++)
            {
                // Tournament of two among the best half; now and then a fresh draw keeps the population varied.
                StudentArchitecture? child = Draw(() =>
                {
                    if (random.Next(4) == 0) return options.Space.Sample(random);
                    SearchCandidate x = parents[random.Next(parents.Length)], y = parents[random.Next(parents.Length)];
                    SearchCandidate parent = x.ValidationAccuracy >= y.ValidationAccuracy ? x : y;
                    return options.Space.Mutate(StudentArchitecture.TryParse(parent.Architecture)!, random);
                });
                if (child is null) break;
                Evaluate(child, g);
            }
        }

        foreach (SearchCandidate finalist in Ranked(evaluated).Take(options.Finalists).ToArray())
        {
            TrainingRun run = Train(StudentArchitecture.TryParse(finalist.Architecture)!, options.FinalistEpochs);
            evaluated[evaluated.IndexOf(finalist)] = finalist with
            {
                FinalistAccuracy = run.FinalAccuracy,
                TrainSeconds = finalist.TrainSeconds + run.TrainSeconds,
            };
            log(string.Create(CultureInfo.InvariantCulture,
                $"search: finalist {finalist.Architecture}: validation accuracy {run.FinalAccuracy:P2} after {options.FinalistEpochs} epochs ({finalist.ValidationAccuracy:P2} after {options.Epochs}; {run.TrainSeconds:F0} s)"));
        }

        SearchCandidate winner = options.Finalists > 0
            ? evaluated.Where(c => c.FinalistAccuracy is not null).OrderByDescending(c => c.FinalistAccuracy).ThenBy(c => c.Parameters).First()
            : Ranked(evaluated).First();
        double seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        return new SearchResult(evaluated, winner, options, seconds, rejected, train.Count, validation.Count);
    }

    /// <summary>
    /// Throws when even the smallest candidates of <paramref name="options"/>' space break its budget, naming the
    /// smallest and its cost (the latency measured in <paramref name="workDirectory"/>); run before anything is trained.
    /// </summary>
    /// <exception cref="ArgumentException">No candidate meets the budget.</exception>
    public static void CheckBudget(SearchOptions options, string workDirectory)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(workDirectory);
        options.Validate();
        RequireFeasible(options, Costs(options, workDirectory));
    }

    /// <summary>Parameters (always) and ONNX Runtime latency (when asked) of architectures, each measured once.</summary>
    private static Func<StudentArchitecture, bool, (long Parameters, OnnxLatencyResult? Latency)> Costs(SearchOptions options, string workDirectory)
    {
        var costs = new Dictionary<StudentArchitecture, (long Parameters, OnnxLatencyResult? Latency)>();
        return (architecture, measureLatency) =>
        {
            if (!costs.TryGetValue(architecture, out var cost) || (measureLatency && cost.Latency is null))
            {
                long parameters = architecture.ParameterCount();
                OnnxLatencyResult? latency = null;
                if (measureLatency)
                {
                    using DistillModel model = architecture.Create(0);
                    model.eval();
                    string path = Path.Combine(workDirectory, "candidates", architecture.Name + ".onnx");
                    Export.ToOnnx(model, path);
                    latency = OnnxLatency.Measure(path, options.LatencyRepeats, warmup: 2, intraOpThreads: 1);
                }
                cost = (parameters, latency);
                costs[architecture] = cost;
            }
            return cost;
        };
    }

    /// <summary>The candidates by validation accuracy, fewer parameters first among equals.</summary>
    private static IEnumerable<SearchCandidate> Ranked(IEnumerable<SearchCandidate> candidates) =>
        candidates.OrderByDescending(c => c.ValidationAccuracy).ThenBy(c => c.Parameters);

    private static bool Fits(SearchOptions options, StudentArchitecture a,
        Func<StudentArchitecture, bool, (long Parameters, OnnxLatencyResult? Latency)> cost, bool floor = true)
    {
        long parameters = cost(a, false).Parameters;
        if (parameters > options.BudgetParameters) return false;
        if (floor && parameters < options.MinimumBudgetShare * options.BudgetParameters) return false;
        return options.BudgetMilliseconds is not double ms || cost(a, true).Latency!.MillisecondsPerImageBatch1 <= ms;
    }

    /// <summary>Throws when even the space's smallest candidates break the budget, naming the smallest and its cost.</summary>
    private static void RequireFeasible(SearchOptions options, Func<StudentArchitecture, bool, (long Parameters, OnnxLatencyResult? Latency)> cost)
    {
        StudentArchitecture[] smallest = [.. options.Space.Smallest().OrderBy(a => cost(a, false).Parameters)];
        StudentArchitecture least = smallest[0];
        long parameters = cost(least, false).Parameters;
        if (parameters > options.BudgetParameters)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"No candidate of the search space meets the budget of {options.BudgetParameters:N0} parameters: the smallest, {least.Name}, has {parameters:N0}."),
                "budgetParameters");
        }
        if (options.BudgetMilliseconds is double ms)
        {
            StudentArchitecture fastest = smallest.Where(a => cost(a, false).Parameters <= options.BudgetParameters)
                .MinBy(a => cost(a, true).Latency!.MillisecondsPerImageBatch1)!;
            double measured = cost(fastest, true).Latency!.MillisecondsPerImageBatch1;
            if (measured > ms)
            {
                throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                    $"No candidate of the search space meets the budget of {ms} ms per image at batch 1: the smallest, {fastest.Name}, measured {measured:F4} ms ({cost(fastest, false).Parameters:N0} parameters)."),
                    "budgetMilliseconds");
            }
        }
    }
}
