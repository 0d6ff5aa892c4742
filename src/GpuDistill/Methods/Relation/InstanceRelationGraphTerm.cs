using GpuDistill.Models;
using static TorchSharp.torch;

namespace GpuDistill.Methods;

/// <summary>
/// Instance relationship graph distillation (Liu et al. 2019): <see cref="Losses.InstanceRelationGraph"/> over the
/// logits, two consecutive feature maps and the embedding, with the reference weights (vertex 0.1, edge 5,
/// transformation 5). Default layers: the last two feature layers and the embedding the classifier head reads; a
/// user's choice names three layers in that order.
/// </summary>
/// <param name="settings">Layers named by the user, if any.</param>
public sealed class InstanceRelationGraphTerm(LayerSettings settings) : IFeatureTerm
{
    /// <summary>The registry's description: method irg = irg:1,ce:1.</summary>
    public static TermInfo Info { get; } = TermInfo.Of<LayerSettings>("irg",
        "Instance relationship graph: vertices, edges and transformation (Liu et al. 2019); default: last two stages and head:in.",
        s => new InstanceRelationGraphTerm(s), new BuiltInMethod("irg", "irg:1,ce:1")
        {
            Grid = TuningGrid.Scaled("irg:1,ce:1", 0.1, 0.3, 1),
        });

    /// <inheritdoc/>
    public string Name => "irg";

    /// <inheritdoc/>
    public bool NeedsTeacher => true;

    /// <inheritdoc/>
    public IReadOnlyList<string> StudentLayers { get; private set; } = [];

    /// <inheritdoc/>
    public IReadOnlyList<string> TeacherLayers { get; private set; } = [];

    /// <inheritdoc/>
    public void Bind(DistillModel student, DistillModel teacher)
    {
        (StudentLayers, TeacherLayers) = LayerChoice.Resolve(Name, settings, student, teacher, DefaultLayers);
        if (StudentLayers.Count != 3)
            throw new ArgumentException(
                $"Loss term 'irg' reads three layers (an earlier map, a later map, the embedding); got {string.Join(", ", StudentLayers)}.",
                nameof(student));
    }

    /// <inheritdoc/>
    public Tensor Compute(TermInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        if (StudentLayers.Count == 0)
            throw new InvalidOperationException("Loss term 'irg' has no layers: Bind it to the models first.");
        var student = new RelationGraphFeatures(inputs.StudentLogits, inputs.StudentFeature(Name, StudentLayers[0]),
            inputs.StudentFeature(Name, StudentLayers[1]), inputs.StudentFeature(Name, StudentLayers[2]));
        var teacher = new RelationGraphFeatures(inputs.RequireTeacher(Name), inputs.TeacherFeature(Name, TeacherLayers[0]),
            inputs.TeacherFeature(Name, TeacherLayers[1]), inputs.TeacherFeature(Name, TeacherLayers[2]));
        return Losses.InstanceRelationGraph(student, teacher);
    }

    private static IReadOnlyList<string> DefaultLayers(DistillModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.FeatureLayers.Count < 2)
            throw new ArgumentException($"Loss term 'irg' needs two feature layers of '{model.Architecture}'; it has {model.FeatureLayers.Count}.", nameof(model));
        return [model.FeatureLayers[^2], model.FeatureLayers[^1], model.EmbeddingLayer];
    }
}
