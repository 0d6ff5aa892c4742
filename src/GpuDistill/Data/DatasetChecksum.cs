using System.Security.Cryptography;

namespace GpuDistill.Data;

/// <summary>
/// A dataset's fingerprint: SHA-256 of every image's pixels in index order (row-major bytes) followed by every label
/// as one byte, in lower-case hex. Another tool computes it the same way, e.g. in Python
/// <c>hashlib.sha256(images.astype(uint8).tobytes() + labels.astype(uint8).tobytes()).hexdigest()</c>.
/// </summary>
public static class DatasetChecksum
{
    /// <summary>The checksum of <paramref name="dataset"/>.</summary>
    /// <param name="dataset">The images and labels.</param>
    /// <returns>64 lower-case hex digits.</returns>
    public static string Of(ImageDataset dataset)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(dataset.Pixels);
        hash.AppendData(dataset.Labels);
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
