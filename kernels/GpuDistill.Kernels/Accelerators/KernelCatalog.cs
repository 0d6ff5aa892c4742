using System.Reflection;
using ILGPU;

namespace GpuDistill.Accelerators;

/// <summary>A kernel entry point of this assembly.</summary>
/// <param name="Name">Class.Method.</param>
/// <param name="Method">The kernel method.</param>
/// <param name="ImplicitlyGrouped">True when its first parameter is an index (ILGPU picks the groups).</param>
public sealed record KernelEntry(string Name, MethodInfo Method, bool ImplicitlyGrouped);

/// <summary>
/// Every kernel in GpuDistill.Kernels, found by convention (public static void methods of static classes whose
/// name ends in "Kernels"), so a new kernel is compiled for every backend by the tests without being registered.
/// </summary>
public static class KernelCatalog
{
    /// <summary>All kernel entry points.</summary>
    public static IReadOnlyList<KernelEntry> All { get; } = Discover();

    private static List<KernelEntry> Discover() =>
        typeof(KernelCatalog).Assembly.GetTypes()
            .Where(t => t.IsAbstract && t.IsSealed && t.IsPublic && t.Name.EndsWith("Kernels", StringComparison.Ordinal))
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Static | BindingFlags.DeclaredOnly))
            .Where(m => m.ReturnType == typeof(void))
            .Select(m => new KernelEntry($"{m.DeclaringType!.Name}.{m.Name}", m,
                m.GetParameters() is [{ ParameterType: var first }, ..] && IsIndex(first)))
            .OrderBy(e => e.Name, StringComparer.Ordinal)
            .ToList();

    private static bool IsIndex(Type type) =>
        type == typeof(Index1D) || type == typeof(Index2D) || type == typeof(Index3D) ||
        type == typeof(LongIndex1D) || type == typeof(LongIndex2D) || type == typeof(LongIndex3D);
}
