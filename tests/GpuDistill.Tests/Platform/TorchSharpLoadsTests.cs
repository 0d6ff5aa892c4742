using static TorchSharp.torch;

namespace GpuDistill.Tests.Platform;

/// <summary>
/// TorchSharp's native library loads and computes here (on Debian 12 it only does after the build marks its
/// GLIBCXX_3.4.32 requirement weak; see build/LibTorchSharpFix.targets).
/// </summary>
public sealed class TorchSharpLoadsTests
{
    [Test]
    public void InitialisesAndComputes()
    {
        using var scope = NewDisposeScope();
        Tensor a = tensor(new float[] { 1, 2, 3, 4 }, [2, 2]);
        Tensor product = a.matmul(a);
        Assert.That(product.data<float>().ToArray(), Is.EqualTo(new float[] { 7, 10, 15, 22 }));
    }

    [Test]
    public void AutogradRuns()
    {
        using var scope = NewDisposeScope();
        Tensor x = tensor(new float[] { 1, 2, 3 }).requires_grad_(true);
        (x * x).sum().backward();
        Assert.That(x.grad!.data<float>().ToArray(), Is.EqualTo(new float[] { 2, 4, 6 }));
    }

    [Test]
    public void OutputCopyOfLibTorchSharpIsPatched()
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("The GLIBCXX patch is applied on Linux only.");
        string path = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        Assert.That(File.Exists(path), Is.True, path);
        byte[] elf = File.ReadAllBytes(path);
        Assert.That(VersionNeedFlags(elf, "GLIBCXX_3.4.32") & 0x2, Is.EqualTo(0x2), "VER_FLG_WEAK on GLIBCXX_3.4.32");
    }

    /// <summary>Reads vna_flags of the version requirement called <paramref name="name"/> (independent of the build task).</summary>
    private static int VersionNeedFlags(byte[] elf, string name)
    {
        long shoff = BitConverter.ToInt64(elf, 0x28);
        int shentsize = BitConverter.ToUInt16(elf, 0x3A), shnum = BitConverter.ToUInt16(elf, 0x3C);
        for (int s = 0; s < shnum; s++)
        {
            int sh = (int)(shoff + s * shentsize);
            if (BitConverter.ToUInt32(elf, sh + 4) != 0x6ffffffe) continue;
            int need = (int)BitConverter.ToInt64(elf, sh + 0x18);
            int strtab = (int)BitConverter.ToInt64(elf, (int)(shoff + BitConverter.ToUInt32(elf, sh + 0x28) * shentsize) + 0x18);
            for (uint n = 0; n < BitConverter.ToUInt32(elf, sh + 0x2C); n++)
            {
                int aux = need + (int)BitConverter.ToUInt32(elf, need + 8);
                for (int a = 0; a < BitConverter.ToUInt16(elf, need + 2); a++)
                {
                    int start = strtab + (int)BitConverter.ToUInt32(elf, aux + 8);
                    int end = Array.IndexOf(elf, (byte)0, start);
                    if (System.Text.Encoding.ASCII.GetString(elf, start, end - start) == name)
                        return BitConverter.ToUInt16(elf, aux + 4);
                    aux += (int)BitConverter.ToUInt32(elf, aux + 12);
                }
                need += (int)BitConverter.ToUInt32(elf, need + 12);
            }
        }
        Assert.Fail($"{name} not found in the library's version requirements");
        return 0;
    }
}
