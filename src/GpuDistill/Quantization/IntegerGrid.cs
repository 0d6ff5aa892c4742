using System.Globalization;

namespace GpuDistill.Quantization;

/// <summary>
/// The integers a b-bit quantizer maps onto, [<see cref="Minimum"/>, <see cref="Maximum"/>] (loss-spec-2 8.1), for
/// b in 2..16. Create one with <see cref="Symmetric"/> (weights), <see cref="TwosComplement"/> or <see cref="NonNegative"/>.
/// </summary>
public readonly record struct IntegerGrid
{
    /// <summary>The smallest bit width supported.</summary>
    public const int MinimumBits = 2;

    /// <summary>The largest bit width supported.</summary>
    public const int MaximumBits = 16;

    private IntegerGrid(int bits, int minimum, int maximum)
    {
        Bits = bits;
        Minimum = minimum;
        Maximum = maximum;
    }

    /// <summary>The bit width b.</summary>
    public int Bits { get; }

    /// <summary>qmin.</summary>
    public int Minimum { get; }

    /// <summary>qmax.</summary>
    public int Maximum { get; }

    /// <summary>Whether the grid holds negative integers.</summary>
    public bool IsSigned => Minimum < 0;

    /// <summary>
    /// The restricted signed range [-(2^(b-1) - 1), 2^(b-1) - 1], symmetric about 0 (TensorRT style): the weights'
    /// grid. At 2 bits it is {-1, 0, 1}, ternary weights. Int8 weights use [-127, 127].
    /// </summary>
    /// <param name="bits">b, in 2..16.</param>
    /// <returns>The grid.</returns>
    public static IntegerGrid Symmetric(int bits)
    {
        RequireBits(bits, nameof(bits));
        int half = 1 << (bits - 1);
        return new IntegerGrid(bits, -(half - 1), half - 1);
    }

    /// <summary>The full signed range [-2^(b-1), 2^(b-1) - 1] (int8: [-128, 127]).</summary>
    /// <param name="bits">b, in 2..16.</param>
    /// <returns>The grid.</returns>
    public static IntegerGrid TwosComplement(int bits)
    {
        RequireBits(bits, nameof(bits));
        int half = 1 << (bits - 1);
        return new IntegerGrid(bits, -half, half - 1);
    }

    /// <summary>The unsigned range [0, 2^b - 1] (uint8: [0, 255]): activations.</summary>
    /// <param name="bits">b, in 2..16.</param>
    /// <returns>The grid.</returns>
    public static IntegerGrid NonNegative(int bits)
    {
        RequireBits(bits, nameof(bits));
        return new IntegerGrid(bits, 0, (1 << bits) - 1);
    }

    /// <summary>Throws unless <paramref name="bits"/> is in 2..16.</summary>
    /// <param name="bits">A bit width.</param>
    /// <param name="name">The argument's name, for the exception.</param>
    /// <exception cref="ArgumentOutOfRangeException">The bit width is outside 2..16; the message names it.</exception>
    public static void RequireBits(int bits, string name)
    {
        if (bits is < MinimumBits or > MaximumBits)
        {
            throw new ArgumentOutOfRangeException(name, bits, string.Create(CultureInfo.InvariantCulture,
                $"{name} must be a bit width in {MinimumBits}..{MaximumBits}; got {bits}."));
        }
    }

    /// <summary>Throws when this is the default value rather than a grid made by a factory.</summary>
    /// <param name="name">The argument's name, for the exception.</param>
    internal void Require(string name)
    {
        if (Bits == 0)
            throw new ArgumentException($"{name} is an empty grid; create it with IntegerGrid.Symmetric, TwosComplement or NonNegative.", name);
    }

    /// <inheritdoc/>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Bits}-bit [{Minimum}, {Maximum}]");
}
