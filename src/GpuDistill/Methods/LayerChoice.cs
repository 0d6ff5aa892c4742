using GpuDistill.Models;

namespace GpuDistill.Methods;

/// <summary>
/// Which layers a feature term reads: the ones the user named (<c>--student-layers</c>, <c>--teacher-layers</c>),
/// else the term's default for each model; student layer i is paired with teacher layer i.
/// </summary>
public static class LayerChoice
{
    /// <summary>Resolves and checks the layers of term <paramref name="term"/>.</summary>
    /// <param name="term">The term's name (for messages).</param>
    /// <param name="settings">The user's choice, if any.</param>
    /// <param name="student">The student model.</param>
    /// <param name="teacher">The teacher model.</param>
    /// <param name="defaults">The term's default layers of a model.</param>
    /// <returns>The student's and the teacher's layers, equally many.</returns>
    public static (IReadOnlyList<string> Student, IReadOnlyList<string> Teacher) Resolve(string term, LayerSettings settings,
        DistillModel student, DistillModel teacher, Func<DistillModel, IReadOnlyList<string>> defaults)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(student);
        ArgumentNullException.ThrowIfNull(teacher);
        ArgumentNullException.ThrowIfNull(defaults);
        IReadOnlyList<string> s = settings.StudentLayers is { Count: > 0 } chosenS ? chosenS : defaults(student);
        IReadOnlyList<string> t = settings.TeacherLayers is { Count: > 0 } chosenT ? chosenT : defaults(teacher);
        if (s.Count != t.Count)
            throw new ArgumentException(
                $"Loss term '{term}' pairs student and teacher layers by position, but got {s.Count} student layers ({string.Join(", ", s)}) and {t.Count} teacher layers ({string.Join(", ", t)}); name them with --student-layers and --teacher-layers.",
                nameof(teacher));
        return (s, t);
    }

    /// <summary>The middle one of the model's feature layers (FitNets' hint layer).</summary>
    public static IReadOnlyList<string> Middle(DistillModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return [model.FeatureLayers[model.FeatureLayers.Count / 2]];
    }

    /// <summary>The last of the model's feature layers (SP's layer).</summary>
    public static IReadOnlyList<string> Last(DistillModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return [model.FeatureLayers[^1]];
    }

    /// <summary>The embedding the model's classifier head reads (the layer of RKD, PKT and CC).</summary>
    public static IReadOnlyList<string> Embedding(DistillModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return [model.EmbeddingLayer];
    }

    /// <summary>All of the model's feature layers, in order (AT's and FSP's layers).</summary>
    public static IReadOnlyList<string> All(DistillModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return model.FeatureLayers;
    }
}
