using System.Buffers.Binary;
using System.IO.Compression;

namespace GpuDistill.Data;

/// <summary>
/// Reads the IDX format (as used by MNIST and Fashion-MNIST): the magic bytes 0, 0, a type code and the number of
/// dimensions, then each dimension as a big-endian int32, then the data. Only unsigned bytes (type 0x08) are
/// supported. Gzipped files are recognised by the gzip magic bytes 1f 8b, whatever their name.
/// </summary>
/// <remarks>
/// Every failure is an <see cref="InvalidDataException"/> or <see cref="FileNotFoundException"/> whose message
/// starts with the file (or resource) name and says what was wrong.
/// </remarks>
public static class IdxReader
{
    /// <summary>The IDX type code of unsigned bytes, the only one read.</summary>
    public const byte UnsignedByteType = 0x08;

    /// <summary>Reads an IDX file, plain or gzipped, and checks that it has <paramref name="expectedRank"/> dimensions.</summary>
    /// <param name="path">The file.</param>
    /// <param name="expectedRank">The number of dimensions it must have (3 for images, 1 for labels).</param>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not a well-formed IDX file of that rank.</exception>
    public static IdxArray Read(string path, int expectedRank)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        byte[] raw;
        try
        {
            raw = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new FileNotFoundException($"{path}: IDX file not found.", path, e);
        }
        return Parse(raw, path, expectedRank);
    }

    /// <summary>Reads an IDX stream (plain or gzipped) to its end, as <see cref="Read(string, int)"/> reads a file.</summary>
    /// <param name="stream">The stream; it is read but not disposed.</param>
    /// <param name="name">A name for the stream used in error messages and <see cref="IdxArray.Name"/>.</param>
    /// <param name="expectedRank">The number of dimensions it must have.</param>
    /// <exception cref="InvalidDataException">The stream is not a well-formed IDX array of that rank.</exception>
    public static IdxArray Read(Stream stream, string name, int expectedRank)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentException.ThrowIfNullOrEmpty(name);
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        return Parse(memory.ToArray(), name, expectedRank);
    }

    /// <summary>Parses IDX bytes that were read whole (gzipped or not).</summary>
    internal static IdxArray Parse(byte[] raw, string name, int expectedRank)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(expectedRank);
        byte[] bytes = IsGzip(raw) ? Decompress(raw, name) : raw;

        if (bytes.Length < 4)
            throw new InvalidDataException($"{name}: truncated: it has {bytes.Length} bytes, fewer than the 4-byte IDX magic number.");
        if (bytes[0] != 0 || bytes[1] != 0)
            throw new InvalidDataException(
                $"{name}: wrong magic number 0x{bytes[0]:X2}{bytes[1]:X2}{bytes[2]:X2}{bytes[3]:X2}: an IDX file starts with two zero bytes, a type code and the number of dimensions.");
        if (bytes[2] != UnsignedByteType)
            throw new InvalidDataException(
                $"{name}: wrong magic number: type code 0x{bytes[2]:X2} is not supported (only unsigned byte, 0x08).");
        int rank = bytes[3];
        if (rank != expectedRank)
            throw new InvalidDataException($"{name}: wrong number of dimensions: the header says {rank}, expected {expectedRank}.");

        int headerLength = 4 + 4 * rank;
        if (bytes.Length < headerLength)
            throw new InvalidDataException(
                $"{name}: truncated: it has {bytes.Length} bytes, but a header of {rank} dimensions needs {headerLength}.");

        var dimensions = new int[rank];
        long expected = 1;
        for (int d = 0; d < rank; d++)
        {
            int size = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(4 + 4 * d));
            if (size < 0)
                throw new InvalidDataException($"{name}: dimension {d} is negative ({size}).");
            dimensions[d] = size;
            expected *= size;
            // The data must fit one array; checking as we go also keeps the product from overflowing.
            if (expected > Array.MaxLength)
                throw new InvalidDataException($"{name}: the header's dimensions [{string.Join(", ", dimensions[..(d + 1)])}] describe more than {Array.MaxLength} bytes.");
        }

        long available = bytes.Length - headerLength;
        string shape = "[" + string.Join(", ", dimensions) + "]";
        if (available < expected)
            throw new InvalidDataException(
                $"{name}: truncated: the header promises {expected} bytes of data (dimensions {shape}) but only {available} follow.");
        if (available > expected)
            throw new InvalidDataException(
                $"{name}: {available - expected} unexpected bytes follow the {expected} bytes of data that the header describes (dimensions {shape}).");

        return new IdxArray(name, dimensions, bytes.AsMemory(headerLength, (int)expected));
    }

    private static bool IsGzip(byte[] raw) => raw.Length >= 2 && raw[0] == 0x1F && raw[1] == 0x8B;

    private static byte[] Decompress(byte[] raw, string name)
    {
        // A gzip trailer ends with the uncompressed size mod 2^32: a good first capacity, only a hint.
        int hint = raw.Length >= 18 ? (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(raw.AsSpan(raw.Length - 4)), 1u << 30) : 0;
        using var output = new MemoryStream(Math.Max(hint, raw.Length));
        try
        {
            using var gzip = new GZipStream(new MemoryStream(raw, writable: false), CompressionMode.Decompress);
            gzip.CopyTo(output);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{name}: the gzip data is corrupt or truncated ({e.Message})", e);
        }
        return output.Length == output.Capacity ? output.GetBuffer() : output.ToArray();
    }
}
