using GpuDistill.Training;

namespace GpuDistill.Distributed;

/// <summary>A learner's weights, adapters and optimiser state as bytes, to send from one process to the others.</summary>
internal static class LearnerStateBytes
{
    /// <summary>Makes every process's copy of <paramref name="learner"/> the one of <paramref name="root"/>.</summary>
    /// <param name="group">The processes.</param>
    /// <param name="learner">This process's copy.</param>
    /// <param name="root">The rank whose copy counts.</param>
    public static void Broadcast(IProcessGroup group, LearnerState learner, int root)
    {
        byte[] bytes = group.Broadcast(group.Rank == root ? Save(learner) : null, root);
        if (group.Rank != root) Load(learner, bytes);
    }

    private static byte[] Save(LearnerState learner)
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            learner.Model.save(writer);
            learner.Adapters?.save(writer);
            learner.Optimizer.Save(writer);
        }
        return stream.ToArray();
    }

    private static void Load(LearnerState learner, byte[] bytes)
    {
        using var reader = new BinaryReader(new MemoryStream(bytes));
        learner.Model.load(reader, strict: true);
        learner.Adapters?.load(reader, strict: true);
        learner.Optimizer.Load(reader);
    }
}
