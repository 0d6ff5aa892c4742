using System.Runtime.InteropServices;

namespace GpuDistill.Cli;

/// <summary>
/// Sets variables in the C library's environment, the one native code (OpenMP in libtorch) reads: on Unix,
/// <see cref="Environment.SetEnvironmentVariable(string, string)"/> changes only .NET's own copy.
/// </summary>
internal static partial class NativeEnvironment
{
    /// <summary>Sets <paramref name="name"/> for native code loaded after this call.</summary>
    /// <param name="name">Variable name.</param>
    /// <param name="value">Value.</param>
    public static void Set(string name, string value)
    {
        if (SetEnv(name, value, 1) != 0)
            throw new InvalidOperationException($"setenv({name}) failed with errno {Marshal.GetLastPInvokeError()}.");
        Environment.SetEnvironmentVariable(name, value);
    }

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int SetEnv(string name, string value, int overwrite);
}
