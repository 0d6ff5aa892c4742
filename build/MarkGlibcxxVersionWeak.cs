// Marks one symbol-version requirement of an ELF64 little-endian shared library as weak (VER_FLG_WEAK).
// Used by LibTorchSharpFix.targets; kept free of anything but the BCL and MSBuild so it compiles as an inline task.
using System;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public sealed class MarkGlibcxxVersionWeak : Task
{
    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const ushort VerFlgWeak = 0x2;

    [Required] public string LibraryPath { get; set; } = "";
    [Required] public string VersionName { get; set; } = "";

    public override bool Execute()
    {
        try
        {
            byte[] elf = File.ReadAllBytes(LibraryPath);
            int changed = MarkWeak(elf, VersionName, out bool found);
            if (!found)
            {
                Log.LogMessage(MessageImportance.Low, "{0}: no requirement on {1}; nothing to do.", LibraryPath, VersionName);
                return true;
            }
            if (changed == 0)
            {
                Log.LogMessage(MessageImportance.Low, "{0}: {1} is already weak.", LibraryPath, VersionName);
                return true;
            }
            // Write beside and rename, so an interrupted build never leaves a half-written library.
            string temp = LibraryPath + ".tmp";
            File.WriteAllBytes(temp, elf);
            File.Replace(temp, LibraryPath, null);
            Log.LogMessage(MessageImportance.High, "GpuDistill: marked {0} weak in {1} (TorchSharp on glibc/libstdc++ of Debian 12).", VersionName, LibraryPath);
            return true;
        }
        catch (Exception e) when (e is IOException || e is InvalidDataException || e is UnauthorizedAccessException)
        {
            Log.LogError("Could not patch {0}: {1}", LibraryPath, e.Message);
            return false;
        }
    }

    /// <summary>Sets VER_FLG_WEAK on every Vernaux entry named <paramref name="name"/>; returns how many changed.</summary>
    private static int MarkWeak(byte[] elf, string name, out bool found)
    {
        found = false;
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException("not an ELF file");
        if (elf[4] != 2 || elf[5] != 1)
            throw new InvalidDataException("only 64-bit little-endian ELF is supported");

        long shoff = (long)BitConverter.ToUInt64(elf, 0x28);
        int shentsize = BitConverter.ToUInt16(elf, 0x3A);
        int shnum = BitConverter.ToUInt16(elf, 0x3C);
        int changed = 0;
        for (int s = 0; s < shnum; s++)
        {
            long sh = shoff + (long)s * shentsize;
            if (BitConverter.ToUInt32(elf, (int)sh + 4) != ShtGnuVerneed) continue;
            long offset = (long)BitConverter.ToUInt64(elf, (int)sh + 0x18);
            uint link = BitConverter.ToUInt32(elf, (int)sh + 0x28);
            uint count = BitConverter.ToUInt32(elf, (int)sh + 0x2C);
            long strtab = (long)BitConverter.ToUInt64(elf, (int)(shoff + link * shentsize) + 0x18);

            long need = offset;
            for (uint n = 0; n < count; n++)
            {
                int auxCount = BitConverter.ToUInt16(elf, (int)need + 2);
                long aux = need + BitConverter.ToUInt32(elf, (int)need + 8);
                for (int a = 0; a < auxCount; a++)
                {
                    uint nameOffset = BitConverter.ToUInt32(elf, (int)aux + 8);
                    if (ReadString(elf, strtab + nameOffset) == name)
                    {
                        found = true;
                        ushort flags = BitConverter.ToUInt16(elf, (int)aux + 4);
                        if ((flags & VerFlgWeak) == 0)
                        {
                            BitConverter.GetBytes((ushort)(flags | VerFlgWeak)).CopyTo(elf, (int)aux + 4);
                            changed++;
                        }
                    }
                    aux += BitConverter.ToUInt32(elf, (int)aux + 12);
                }
                need += BitConverter.ToUInt32(elf, (int)need + 12);
            }
        }
        return changed;
    }

    private static string ReadString(byte[] elf, long start)
    {
        long end = start;
        while (end < elf.Length && elf[end] != 0) end++;
        return Encoding.ASCII.GetString(elf, (int)start, (int)(end - start));
    }
}
