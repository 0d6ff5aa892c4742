namespace GpuDistill.Methods;

/// <summary>The settings of <c>lifelong</c> (recipe key <c>settings.lifelong</c>, command line <c>--set lifelong.KEY=VALUE</c>).</summary>
public sealed record LifelongSettings : MethodSettings
{
    /// <summary>The scenario names: <c>task</c> (task-incremental) and <c>class</c> (class-incremental).</summary>
    public static IReadOnlyList<string> ScenarioNames { get; } = ["task", "class"];

    /// <summary>The method names, in the order the results list them.</summary>
    public static IReadOnlyList<string> MethodNames { get; } = ["fine-tuning", "joint", "lwf", "replay", "icarl"];

    /// <summary>Tasks the classes are cut into (equal slices of the class order, two classes each at least); must
    /// divide the classes.</summary>
    public int Tasks { get; init; } = 5;

    /// <summary>The class order, every class once; null for 0, 1, ..., 9.</summary>
    public IReadOnlyList<int>? ClassOrder { get; init; }

    /// <summary>Shuffle the class order with each run's seed (a different split per seed).</summary>
    public bool ShuffleClasses { get; init; }

    /// <summary>Which scenarios run: <c>task</c> (a head per task, task identity at test time) and/or <c>class</c>
    /// (one head over the classes seen so far, no task identity).</summary>
    public IReadOnlyList<string> Scenarios { get; init; } = ScenarioNames;

    /// <summary>Which methods run: <c>fine-tuning</c> (lower bound), <c>joint</c> (all tasks so far; upper bound),
    /// <c>lwf</c>, <c>replay</c> (exemplars, no distillation) and <c>icarl</c> (exemplars with distillation).</summary>
    public IReadOnlyList<string> Methods { get; init; } = MethodNames;

    /// <summary>Exemplars kept in all (iCaRL's 2,000): ceil(memory / classes seen) per class, chosen by herding.</summary>
    public int Memory { get; init; } = 2000;

    /// <summary>Temperature of the distillation from the previous model (LwF's 2).</summary>
    public double Temperature { get; init; } = 2.0;

    /// <summary>Weight of the distillation term (LwF's lambda_o = 1; also iCaRL's).</summary>
    public double DistillationWeight { get; init; } = 1.0;

    /// <summary>LwF: epochs that train only the classifier head on the new task, the rest frozen, before the joint
    /// stage (0 for none).</summary>
    public int WarmupEpochs { get; init; } = 1;

    /// <summary>
    /// LwF: the warm-up's learning rate; null for a tenth of the run's. The new head starts far from the old classes'
    /// logits on large, frozen features, and at the run's full rate its steps overshoot (on the full Fashion-MNIST at
    /// lr 0.05 the class-incremental warm-up of task 5 diverged).
    /// </summary>
    public double? WarmupLearningRate { get; init; }

    /// <summary>Also report the replay methods with iCaRL's nearest-mean-of-exemplars classifier.</summary>
    public bool Nme { get; init; } = true;

    /// <inheritdoc/>
    public override void Validate()
    {
        // Every model of the library has 10 outputs (Fashion-MNIST's classes); the split is checked against them here.
        int classes = Models.DistillModel.ClassCount;
        // Two classes per task at least: a task-incremental head over one class has nothing to decide.
        Require(Tasks >= 2 && Tasks <= classes / 2 && classes % Tasks == 0, "tasks", Tasks,
            $"2 or more, at most {classes / 2}, and divide the {classes} classes into equal tasks");
        if (ClassOrder is not null) TaskSplit.RequirePermutation(ClassOrder, classes);
        RequireNames(Scenarios, ScenarioNames, "scenarios");
        RequireNames(Methods, MethodNames, "methods");
        Require(Memory >= 1, "memory", Memory, "1 or more");
        Require(double.IsFinite(Temperature) && Temperature > 0, "temperature", Temperature, "finite and > 0");
        Require(double.IsFinite(DistillationWeight) && DistillationWeight >= 0, "distillationWeight", DistillationWeight, "finite and >= 0");
        Require(WarmupEpochs >= 0, "warmupEpochs", WarmupEpochs, "0 or more");
        Require(WarmupLearningRate is null or (> 0 and < double.PositiveInfinity), "warmupLearningRate", WarmupLearningRate, "null, or finite and > 0");
    }

    private static void RequireNames(IReadOnlyList<string>? chosen, IReadOnlyList<string> known, string key)
    {
        Require(chosen is { Count: > 0 }, key, chosen, $"a non-empty list of {string.Join(", ", known)}");
        foreach (string name in chosen!)
            Require(known.Contains(name), key, name, $"a list of {string.Join(", ", known)}; '{name}' is none of them");
        Require(chosen.Distinct().Count() == chosen.Count, key, string.Join(",", chosen), "a list without repeats");
    }
}
