using System.Buffers.Binary;
using System.IO.Compression;

namespace GpuDistill.Data;

/// <summary>Writes unsigned-byte IDX files, plain or gzipped: the format <see cref="IdxReader"/> reads.</summary>
public static class IdxWriter
{
    /// <summary>Writes one IDX array.</summary>
    /// <param name="path">The file to create or overwrite.</param>
    /// <param name="dimensions">The dimensions, outermost first; their product must equal the data length.</param>
    /// <param name="data">The data, row-major.</param>
    /// <param name="gzip">Whether to gzip the file (at the smallest size).</param>
    public static void Write(string path, IReadOnlyList<int> dimensions, ReadOnlySpan<byte> data, bool gzip)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(dimensions);
        if (dimensions.Count is 0 or > byte.MaxValue)
            throw new ArgumentException($"An IDX array has 1 to 255 dimensions; got {dimensions.Count}.", nameof(dimensions));
        long product = 1;
        foreach (int size in dimensions)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(size, nameof(dimensions));
            product *= size;
        }
        if (product != data.Length)
            throw new ArgumentException($"The dimensions [{string.Join(", ", dimensions)}] describe {product} bytes; the data has {data.Length}.", nameof(data));

        var header = new byte[4 + 4 * dimensions.Count];
        header[2] = IdxReader.UnsignedByteType;
        header[3] = (byte)dimensions.Count;
        for (int d = 0; d < dimensions.Count; d++)
            BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4 + 4 * d), dimensions[d]);

        using var file = new FileStream(path, FileMode.Create, FileAccess.Write);
        using Stream target = gzip ? new GZipStream(file, CompressionLevel.SmallestSize) : file;
        target.Write(header);
        target.Write(data);
    }

    /// <summary>Writes a dataset as an image file ([N, rows, columns]) and a label file ([N]).</summary>
    /// <param name="dataset">The images and labels.</param>
    /// <param name="imagesPath">The image file to create or overwrite.</param>
    /// <param name="labelsPath">The label file to create or overwrite.</param>
    /// <param name="gzip">Whether to gzip both files.</param>
    public static void WriteDataset(ImageDataset dataset, string imagesPath, string labelsPath, bool gzip)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        Write(imagesPath, [dataset.Count, dataset.Height, dataset.Width], dataset.Pixels, gzip);
        Write(labelsPath, [dataset.Count], dataset.Labels, gzip);
    }
}
