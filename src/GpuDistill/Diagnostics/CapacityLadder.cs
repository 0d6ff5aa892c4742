using GpuDistill.Models;

namespace GpuDistill.Diagnostics;

/// <summary>One student of a capacity-gap sweep.</summary>
/// <param name="Architecture">Its factory name.</param>
/// <param name="Parameters">Its parameter count.</param>
/// <param name="TeacherFraction">Its parameter count over the teacher's.</param>
/// <param name="Description">Its layers, one line.</param>
public sealed record StudentSize(string Architecture, long Parameters, double TeacherFraction, string Description);

/// <summary>
/// The building block of a capacity-gap sweep (Mirzadeh et al. 2020, TAKD): students of increasing size, each with
/// its parameter count and its size relative to the teacher, the x axis of "gap recovered against student size".
/// Running the sweep (each student alone and with KD, several seeds) is the experiments' job.
/// </summary>
public static class CapacityLadder
{
    /// <summary>
    /// The CNN students between the small CNN and the teacher, in increasing size: small-cnn (18,482 parameters),
    /// cnn-w12 (41,110), mid-cnn (72,666), cnn-w24 (162,562); the teacher-cnn has 288,170. The MLP (55,050) is another
    /// family, outside the ladder.
    /// </summary>
    public static IReadOnlyList<string> DefaultStudents { get; } =
        [SmallCnn.ArchitectureName, ScaledCnn.Width12Name, MidCnn.ArchitectureName, ScaledCnn.Width24Name];

    /// <summary>Each student's parameter count and size relative to the teacher.</summary>
    /// <param name="students">Factory names (<see cref="ModelFactory.Names"/>), in strictly increasing parameter count.</param>
    /// <param name="teacher">The teacher's factory name.</param>
    /// <returns>One row per student, in the given order.</returns>
    /// <exception cref="ArgumentException">An unknown name, a repeat, or a student not larger than the one before it.</exception>
    public static IReadOnlyList<StudentSize> Describe(IReadOnlyList<string> students, string teacher = TeacherCnn.ArchitectureName)
    {
        ArgumentNullException.ThrowIfNull(students);
        if (students.Count == 0) throw new ArgumentException("students must name one architecture at least.", nameof(students));
        long teacherParameters = Count(teacher, nameof(teacher)).Parameters;
        var sizes = new List<StudentSize>(students.Count);
        foreach (string student in students)
        {
            (long parameters, string description, string name) = Count(student, nameof(students));
            if (sizes.Count > 0 && parameters <= sizes[^1].Parameters)
                throw new ArgumentException(
                    $"students must grow in size: {name} has {parameters:N0} parameters, not more than {sizes[^1].Architecture}'s {sizes[^1].Parameters:N0}.",
                    nameof(students));
            sizes.Add(new StudentSize(name, parameters, parameters / (double)teacherParameters, description));
        }
        return sizes;
    }

    private static (long Parameters, string Description, string Name) Count(string architecture, string argument)
    {
        if (architecture is null || !ModelFactory.IsKnown(architecture))
            throw new ArgumentException($"'{architecture}' is not an architecture: {ModelFactory.UnknownMessage(architecture)}", argument);
        using DistillModel model = ModelFactory.Create(architecture, 0);
        return (model.ParameterCount, model.Description, model.Architecture);
    }
}
