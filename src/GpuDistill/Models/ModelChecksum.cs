using System.Security.Cryptography;
using System.Text;
using static TorchSharp.torch;

namespace GpuDistill.Models;

/// <summary>
/// A model's fingerprint: SHA-256 over its state dictionary in order, each entry's name (UTF-8) followed by its
/// values' raw bytes in the tensor's own type, row-major, little-endian; lower-case hex. In PyTorch:
/// <c>for k, v in model.state_dict().items(): h.update(k.encode()); h.update(v.contiguous().numpy().tobytes())</c>.
/// </summary>
public static class ModelChecksum
{
    /// <summary>The checksum of <paramref name="model"/>'s parameters and buffers.</summary>
    /// <param name="model">The model (on the CPU or not: values are copied to the host).</param>
    /// <returns>64 lower-case hex digits.</returns>
    public static string Of(nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var noGrad = no_grad();
        foreach ((string name, Tensor value) in model.state_dict())
        {
            hash.AppendData(Encoding.UTF8.GetBytes(name));
            using Tensor host = value.cpu().contiguous();
            hash.AppendData(host.bytes);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
