namespace GpuDistill.Data;

/// <summary>The contents of one IDX file of unsigned bytes: its dimensions and its data in row-major order.</summary>
public sealed class IdxArray
{
    private readonly int[] dimensions;

    internal IdxArray(string name, int[] dimensions, ReadOnlyMemory<byte> data)
    {
        Name = name;
        this.dimensions = dimensions;
        Data = data;
    }

    /// <summary>Where the array was read from (a file path or an embedded resource name); error messages use it.</summary>
    public string Name { get; }

    /// <summary>The dimensions from the header, outermost first (for images: count, rows, columns).</summary>
    public IReadOnlyList<int> Dimensions => dimensions;

    /// <summary>The number of dimensions.</summary>
    public int Rank => dimensions.Length;

    /// <summary>The data, row-major; its length is the product of <see cref="Dimensions"/>.</summary>
    public ReadOnlyMemory<byte> Data { get; }
}
