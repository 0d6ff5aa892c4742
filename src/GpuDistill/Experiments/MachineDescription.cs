using System.Runtime.InteropServices;

namespace GpuDistill.Experiments;

/// <summary>A one-line description of this machine, written next to every measured number.</summary>
public static class MachineDescription
{
    /// <summary>CPU model, core count, OS and runtime.</summary>
    public static string Current { get; } = Describe();

    private static string Describe()
    {
        string cpu = RuntimeInformation.ProcessArchitecture.ToString();
        try
        {
            if (File.Exists("/proc/cpuinfo"))
            {
                string? model = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
                if (model is not null) cpu = model[(model.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
            }
        }
        catch (IOException)
        {
            // Keep the architecture name.
        }
        return $"{cpu}, {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, .NET {Environment.Version}";
    }
}
