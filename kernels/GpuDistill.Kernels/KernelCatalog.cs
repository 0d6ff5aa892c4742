using System.Reflection;
using GpuDistill.Kernels.Rows;
using ILGPU;

namespace GpuDistill.Kernels;

/// <summary>A kernel entry point.</summary>
/// <param name="Name">Class.Method, with the row loss in angle brackets for the shared row-loss kernels.</param>
/// <param name="Method">The kernel method (closed over its type arguments).</param>
/// <param name="ImplicitlyGrouped">True when its first parameter is an index (ILGPU picks the groups).</param>
public sealed record KernelEntry(string Name, MethodInfo Method, bool ImplicitlyGrouped);

/// <summary>
/// Every kernel in GpuDistill.Kernels, found by convention (public static void methods of static classes whose
/// name ends in "Kernels"), so a new kernel is compiled for every backend by the tests without being registered. The
/// generic row-loss kernels appear once per row loss of the assembly (each public struct implementing
/// <see cref="IRowLoss"/>).
/// </summary>
public static class KernelCatalog
{
    /// <summary>The row losses defined in this assembly, by type name.</summary>
    public static IReadOnlyList<Type> RowLosses { get; } =
        [.. typeof(KernelCatalog).Assembly.GetTypes()
            .Where(t => t.IsValueType && t.IsPublic && typeof(IRowLoss).IsAssignableFrom(t))
            .OrderBy(t => t.Name, StringComparer.Ordinal)];

    /// <summary>All kernel entry points.</summary>
    public static IReadOnlyList<KernelEntry> All { get; } = Discover();

    /// <summary>The two layouts of the shared row-loss kernels instantiated for <paramref name="rowLoss"/>.</summary>
    /// <param name="rowLoss">A struct implementing <see cref="IRowLoss"/> (of any assembly).</param>
    /// <returns>One entry per layout.</returns>
    public static IReadOnlyList<KernelEntry> RowLossEntries(Type rowLoss)
    {
        ArgumentNullException.ThrowIfNull(rowLoss);
        if (!rowLoss.IsValueType || !typeof(IRowLoss).IsAssignableFrom(rowLoss))
            throw new ArgumentException($"{rowLoss.Name} is not a struct implementing IRowLoss.", nameof(rowLoss));
        return [.. typeof(RowLossKernels).GetMethods(BindingFlags.Public | BindingFlags.Static | BindingFlags.DeclaredOnly)
            .Select(m => Entry(m.MakeGenericMethod(rowLoss), $"{nameof(RowLossKernels)}.{m.Name}<{rowLoss.Name}>"))];
    }

    private static List<KernelEntry> Discover() =>
        typeof(KernelCatalog).Assembly.GetTypes()
            .Where(t => t.IsAbstract && t.IsSealed && t.IsPublic && t.Name.EndsWith("Kernels", StringComparison.Ordinal))
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Static | BindingFlags.DeclaredOnly))
            .Where(m => m.ReturnType == typeof(void) && !m.IsGenericMethodDefinition)
            .Select(m => Entry(m, $"{m.DeclaringType!.Name}.{m.Name}"))
            .Concat(RowLosses.SelectMany(RowLossEntries))
            .OrderBy(e => e.Name, StringComparer.Ordinal)
            .ToList();

    private static KernelEntry Entry(MethodInfo method, string name) =>
        new(name, method, method.GetParameters() is [{ ParameterType: var first }, ..] && IsIndex(first));

    private static bool IsIndex(Type type) =>
        type == typeof(Index1D) || type == typeof(Index2D) || type == typeof(Index3D) ||
        type == typeof(LongIndex1D) || type == typeof(LongIndex2D) || type == typeof(LongIndex3D);
}
