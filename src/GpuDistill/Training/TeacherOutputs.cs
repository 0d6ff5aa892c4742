using System.Runtime.InteropServices;
using GpuDistill.Data;
using GpuDistill.Models;
using static TorchSharp.torch;

namespace GpuDistill.Training;

/// <summary>
/// The frozen teacher's logits for a training batch. Without augmentation an image's logits never change, so they
/// are computed once for the whole training set (in eval mode, without gradient) and looked up by index; with
/// augmentation the teacher runs on each batch as the student sees it.
/// </summary>
public sealed class TeacherOutputs
{
    private readonly DistillModel teacher;
    private readonly float[]? cache;
    private readonly int classes;

    private TeacherOutputs(DistillModel teacher, float[]? cache, int classes)
    {
        this.teacher = teacher;
        this.cache = cache;
        this.classes = classes;
    }

    /// <summary>Whether the logits were computed once up front.</summary>
    public bool IsCached => cache is not null;

    /// <summary>Prepares the teacher's outputs for <paramref name="train"/>.</summary>
    /// <param name="teacher">The trained teacher; it is put in eval mode and never gets a gradient.</param>
    /// <param name="train">The training set.</param>
    /// <param name="cache">Compute all logits now (only right when batches are not augmented).</param>
    /// <returns>The source of teacher logits.</returns>
    public static TeacherOutputs Create(DistillModel teacher, ImageDataset train, bool cache)
    {
        ArgumentNullException.ThrowIfNull(teacher);
        ArgumentNullException.ThrowIfNull(train);
        teacher.eval();
        foreach (var p in teacher.parameters()) p.requires_grad = false;
        if (!cache) return new TeacherOutputs(teacher, null, train.ClassCount);

        var all = new float[(long)train.Count * train.ClassCount];
        var batcher = new ImageBatcher(train, 1000);
        using var noGrad = no_grad();
        int done = 0;
        foreach (ImageBatch batch in batcher.Epoch(0))
        {
            using (batch)
            using (var scope = NewDisposeScope())
            {
                Tensor logits = teacher.ForwardLogits(batch.Images).contiguous();
                MemoryMarshal.Cast<byte, float>(logits.bytes).CopyTo(all.AsSpan(done * train.ClassCount));
                done += batch.Count;
            }
        }
        return new TeacherOutputs(teacher, all, train.ClassCount);
    }

    /// <summary>The teacher's logits [B, C] for <paramref name="batch"/>, detached.</summary>
    public Tensor Logits(ImageBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (cache is null)
        {
            using var noGrad = no_grad();
            return teacher.ForwardLogits(batch.Images);
        }
        var values = new float[batch.Count * classes];
        for (int i = 0; i < batch.Count; i++)
            Array.Copy(cache, (long)batch.Indices[i] * classes, values, (long)i * classes, classes);
        return tensor(values, [batch.Count, classes]);
    }
}
