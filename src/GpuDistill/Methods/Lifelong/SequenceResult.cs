namespace GpuDistill.Methods;

/// <summary>One lifelong method's record over a task sequence for one seed: its accuracy matrix and metrics.</summary>
/// <param name="Scenario">"task" (task-incremental) or "class" (class-incremental).</param>
/// <param name="Method">The method's name (see <see cref="LifelongSettings.MethodNames"/>).</param>
/// <param name="Classifier">"outputs" (argmax of the logits) or "nme" (nearest mean of exemplars).</param>
/// <param name="Seed">The seed.</param>
/// <param name="Split">The tasks' classes, e.g. "{0,1} {2,3}".</param>
/// <param name="Accuracy">a[k][j]: test accuracy on task j after training on task k (0-based; NaN where a classifier
/// cannot answer yet: the nearest-mean classifier before a task's classes have exemplars).</param>
/// <param name="Initial">b[j]: the untrained model's task-incremental accuracy on task j (for forward transfer).</param>
/// <param name="AverageAccuracy">A_T, the mean accuracy over all tasks after the last one.</param>
/// <param name="Forgetting">F_T (Chaudhry et al.), mean over the tasks before the last.</param>
/// <param name="BackwardTransfer">BWT (Lopez-Paz and Ranzato).</param>
/// <param name="ForwardTransfer">FWT; null where it means nothing (class-incremental, or the nearest-mean classifier).</param>
/// <param name="TrainSeconds">Training time over all tasks (the shared first task included).</param>
/// <param name="Loss">The last task's weighted loss, e.g. "ce:1,lwf:1".</param>
public sealed record SequenceResult(string Scenario, string Method, string Classifier, int Seed, string Split, double[][] Accuracy,
    double[] Initial, double AverageAccuracy, double Forgetting, double BackwardTransfer, double? ForwardTransfer,
    double TrainSeconds, string Loss)
{
    /// <summary>Computes the metrics of <paramref name="accuracy"/> as loss-spec-2 10.3 defines them.</summary>
    /// <param name="scenario">"task" or "class".</param>
    /// <param name="method">The method.</param>
    /// <param name="classifier">"outputs" or "nme".</param>
    /// <param name="seed">The seed.</param>
    /// <param name="split">The tasks' classes.</param>
    /// <param name="accuracy">a[k][j] (row k complete for j &lt;= k).</param>
    /// <param name="initial">b[j].</param>
    /// <param name="trainSeconds">Training time.</param>
    /// <param name="loss">The last task's loss.</param>
    /// <returns>The record.</returns>
    public static SequenceResult Of(string scenario, string method, string classifier, int seed, string split, double[][] accuracy,
        double[] initial, double trainSeconds, string loss)
    {
        ArgumentNullException.ThrowIfNull(accuracy);
        ArgumentNullException.ThrowIfNull(initial);
        int t = accuracy.Length;
        var a = new double[t, t];
        for (int k = 0; k < t; k++)
        {
            for (int j = 0; j < t; j++) a[k, j] = accuracy[k][j];
        }
        bool transfers = scenario == "task" && classifier == "outputs";
        return new SequenceResult(scenario, method, classifier, seed, split, accuracy, initial,
            ContinualMetrics.AverageAccuracy(a, t - 1), ContinualMetrics.Forgetting(a, t - 1), ContinualMetrics.BackwardTransfer(a),
            transfers ? ContinualMetrics.ForwardTransfer(a, initial) : null, trainSeconds, loss);
    }

    /// <summary>The row's label, e.g. "task-IL, LwF" or "class-IL, iCaRL (NME)".</summary>
    public string Label => $"{ScenarioLabel(Scenario)}, {MethodLabel(Method)}{(Classifier == "nme" ? " (NME)" : "")}";

    /// <summary>"task-IL" or "class-IL".</summary>
    public static string ScenarioLabel(string scenario) => scenario == "task" ? "task-IL" : "class-IL";

    /// <summary>The method's display name.</summary>
    public static string MethodLabel(string method) => method switch
    {
        "fine-tuning" => "fine-tuning",
        "joint" => "joint",
        "lwf" => "LwF",
        "replay" => "replay",
        "icarl" => "iCaRL",
        _ => method,
    };
}
