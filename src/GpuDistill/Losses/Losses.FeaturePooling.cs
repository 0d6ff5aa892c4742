using static TorchSharp.torch;

namespace GpuDistill;

public static partial class Losses
{
    /// <summary>
    /// Average-pools the larger height and the larger width of two [B, C, H, W] maps to the smaller of each, the way
    /// RepDistiller matches feature maps of different sizes (AT, NST); a map already that size is returned as it is.
    /// Done in TorchSharp before a kernel, so autograd chains the gradient through the pooling.
    /// </summary>
    private static (Tensor Student, Tensor Teacher) PoolToCommonSize(Tensor student, Tensor teacher)
    {
        long height = Math.Min(student.shape[2], teacher.shape[2]);
        long width = Math.Min(student.shape[3], teacher.shape[3]);
        return (PoolTo(student, height, width), PoolTo(teacher, height, width));
    }

    /// <summary>adaptive_avg_pool2d to [height, width] when the map is not already that size.</summary>
    private static Tensor PoolTo(Tensor map, long height, long width) =>
        map.shape[2] == height && map.shape[3] == width
            ? map
            : nn.functional.adaptive_avg_pool2d(map, [height, width]);
}
