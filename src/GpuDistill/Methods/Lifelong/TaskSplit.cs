using GpuDistill.Data;

namespace GpuDistill.Methods;

/// <summary>
/// How a classification problem is cut into a sequence of tasks: a class order (every class exactly once), cut into
/// equal consecutive slices, e.g. Fashion-MNIST's 10 classes in order 0..9 as 5 tasks {0,1}, {2,3}, ..., {8,9}.
/// </summary>
public sealed class TaskSplit
{
    private readonly int[][] tasks;
    private readonly int[] taskOfClass;

    private TaskSplit(int[] order, int taskCount)
    {
        int perTask = order.Length / taskCount;
        tasks = [.. Enumerable.Range(0, taskCount).Select(t => order[(t * perTask)..((t + 1) * perTask)])];
        taskOfClass = new int[order.Length];
        for (int t = 0; t < taskCount; t++)
        {
            foreach (int c in tasks[t]) taskOfClass[c] = t;
        }
        ClassOrder = order;
    }

    /// <summary>The classes in the order the tasks meet them.</summary>
    public IReadOnlyList<int> ClassOrder { get; }

    /// <summary>The number of tasks, T.</summary>
    public int Count => tasks.Length;

    /// <summary>The number of classes.</summary>
    public int ClassCount => taskOfClass.Length;

    /// <summary>The classes of task <paramref name="task"/> (0-based).</summary>
    public IReadOnlyList<int> Classes(int task) => tasks[task];

    /// <summary>The classes of tasks 0..<paramref name="task"/> (the classes seen once that task is learnt).</summary>
    public IReadOnlyList<int> SeenClasses(int task) => [.. tasks.Take(task + 1).SelectMany(t => t)];

    /// <summary>The task (0-based) that <paramref name="label"/> belongs to.</summary>
    public int TaskOf(int label) => taskOfClass[label];

    /// <summary>
    /// Cuts <paramref name="classOrder"/> (null for 0..classCount-1) into <paramref name="taskCount"/> tasks, after a
    /// shuffle seeded by <paramref name="shuffleSeed"/> when one is given.
    /// </summary>
    /// <param name="classCount">The number of classes of the data.</param>
    /// <param name="taskCount">Tasks; must divide <paramref name="classCount"/>.</param>
    /// <param name="classOrder">Every class exactly once; null for the natural order.</param>
    /// <param name="shuffleSeed">Shuffles the order with this seed (the same seed gives the same order everywhere);
    /// null keeps it.</param>
    /// <returns>The split.</returns>
    /// <exception cref="ArgumentException">The order leaves a class out, repeats one or names one that does not exist
    /// (named <c>classOrder</c>), or the tasks do not divide the classes (named <c>tasks</c>).</exception>
    public static TaskSplit Create(int classCount, int taskCount, IReadOnlyList<int>? classOrder = null, int? shuffleSeed = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(classCount, 2);
        if (taskCount < 1 || taskCount > classCount || classCount % taskCount != 0)
            throw new ArgumentOutOfRangeException("tasks", taskCount,
                $"tasks must divide the {classCount} classes into equal tasks (one of {string.Join(", ", Enumerable.Range(1, classCount).Where(t => classCount % t == 0))}); got {taskCount}.");
        int[] order = classOrder is null ? [.. Enumerable.Range(0, classCount)] : [.. classOrder];
        RequirePermutation(order, classCount);
        if (shuffleSeed is int seed) SeededRandom.For(seed, 0, stream: 7).Shuffle(order);
        return new TaskSplit(order, taskCount);
    }

    /// <summary>Throws unless <paramref name="order"/> holds every class of 0..classCount-1 exactly once.</summary>
    /// <exception cref="ArgumentException">Named <c>classOrder</c>; the message says which class is wrong.</exception>
    public static void RequirePermutation(IReadOnlyList<int> order, int classCount)
    {
        ArgumentNullException.ThrowIfNull(order);
        foreach (int c in order)
        {
            if (c < 0 || c >= classCount)
                throw new ArgumentException($"classOrder names class {c}, but the classes are 0..{classCount - 1}.", "classOrder");
        }
        int? repeated = order.GroupBy(c => c).Where(g => g.Count() > 1).Select(g => (int?)g.Key).FirstOrDefault();
        if (repeated is not null)
            throw new ArgumentException($"classOrder repeats class {repeated}; every class must appear exactly once.", "classOrder");
        int[] missing = [.. Enumerable.Range(0, classCount).Except(order)];
        if (missing.Length > 0)
            throw new ArgumentException($"classOrder leaves out class(es) {string.Join(", ", missing)}; every class must appear exactly once.", "classOrder");
    }

    /// <summary>The tasks as text, e.g. "{0,1} {2,3}".</summary>
    public override string ToString() => string.Join(' ', tasks.Select(t => "{" + string.Join(',', t) + "}"));
}
