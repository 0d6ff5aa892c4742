using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GpuDistill.Methods;

/// <summary>
/// A feature term with learned adapters (e.g. the FitNets regressor): their parameters are trained with the student,
/// saved with its checkpoints and counted separately.
/// </summary>
public interface IAdaptedTerm : IFeatureTerm
{
    /// <summary>The adapters, once built; null before.</summary>
    Module? Adapter { get; }

    /// <summary>Builds the adapters for the captured shapes (one sample's shape per layer, batch dimension first).</summary>
    /// <param name="studentShapes">Shapes of the student's layers.</param>
    /// <param name="teacherShapes">Shapes of the teacher's layers.</param>
    /// <param name="seed">Seed of the adapters' initial weights.</param>
    void BuildAdapter(IReadOnlyDictionary<string, long[]> studentShapes, IReadOnlyDictionary<string, long[]> teacherShapes, long seed);
}
