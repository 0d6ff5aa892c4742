using GpuDistill.Models;

namespace GpuDistill.Methods;

/// <summary>
/// A loss term that reads intermediate layers of the student and the teacher (feature- and relation-based
/// knowledge). The trainer captures the layers it names, by module path, through forward hooks.
/// </summary>
public interface IFeatureTerm : ILossTerm
{
    /// <summary>The student layers read, once <see cref="Bind"/> has run.</summary>
    IReadOnlyList<string> StudentLayers { get; }

    /// <summary>The teacher layers read, once <see cref="Bind"/> has run; paired with <see cref="StudentLayers"/>
    /// by position where the term pairs layers.</summary>
    IReadOnlyList<string> TeacherLayers { get; }

    /// <summary>Resolves the layers for these models: the ones the settings name, else the term's default.</summary>
    /// <param name="student">The student model.</param>
    /// <param name="teacher">The teacher model.</param>
    void Bind(DistillModel student, DistillModel teacher);
}
