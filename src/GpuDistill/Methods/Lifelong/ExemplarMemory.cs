namespace GpuDistill.Methods;

/// <summary>
/// iCaRL's exemplar memory: for every class seen, its training images ranked by herding when the class was learnt
/// (indices into the training set), of which the first <see cref="PerClass"/> are kept; shrinking keeps the top of
/// each ranking (loss-spec-2 10.2).
/// </summary>
public sealed class ExemplarMemory
{
    /// <summary>Each class's ranked training-set indices, best first.</summary>
    public Dictionary<int, int[]> Ranked { get; init; } = [];

    /// <summary>Exemplars kept per class.</summary>
    public int PerClass { get; set; }

    /// <summary>The exemplars of <paramref name="label"/>, best first.</summary>
    public IReadOnlyList<int> Exemplars(int label) => Ranked[label].AsSpan(0, Math.Min(PerClass, Ranked[label].Length)).ToArray();

    /// <summary>Every exemplar, class by class.</summary>
    public IReadOnlyList<int> All => [.. Ranked.Keys.Order().SelectMany(Exemplars)];

    /// <summary>iCaRL's share per class: ceil(memory / classes seen).</summary>
    /// <param name="memory">Exemplars in all.</param>
    /// <param name="classesSeen">Classes seen so far.</param>
    public static int Share(int memory, int classesSeen) => (memory + classesSeen - 1) / classesSeen;

    /// <summary>
    /// Throws unless every class keeps its share of <paramref name="memory"/> when it is learnt (task after task of
    /// <paramref name="split"/>): the memory cannot hold more images of a class than the class has.
    /// </summary>
    /// <param name="memory">Exemplars in all.</param>
    /// <param name="split">The tasks.</param>
    /// <param name="imagesPerClass">Training images of each class.</param>
    /// <exception cref="ArgumentOutOfRangeException">Named <c>memory</c>, with the largest memory that fits.</exception>
    public static void RequireFits(int memory, TaskSplit split, IReadOnlyList<int> imagesPerClass)
    {
        ArgumentNullException.ThrowIfNull(split);
        ArgumentNullException.ThrowIfNull(imagesPerClass);
        for (int t = 0; t < split.Count; t++)
        {
            int seen = split.SeenClasses(t).Count, share = Share(memory, seen);
            foreach (int c in split.Classes(t))
            {
                if (share > imagesPerClass[c])
                {
                    int largest = Enumerable.Range(0, split.Count)
                        .Min(k => split.Classes(k).Min(x => imagesPerClass[x]) * split.SeenClasses(k).Count);
                    throw new ArgumentOutOfRangeException(nameof(memory), memory,
                        $"memory = {memory} keeps {share} exemplars of each class after task {t + 1}, but class {c} has only {imagesPerClass[c]} training images; the memory can be {largest} at most with this data.");
                }
            }
        }
    }
}
