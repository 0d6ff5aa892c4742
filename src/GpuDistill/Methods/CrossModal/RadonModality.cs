using System.Globalization;
using GpuDistill.Data;
using GpuDistill.Models;

namespace GpuDistill.Methods;

/// <summary>
/// A second modality of each 28x28 image, measured the way a CT scanner does: its Radon projections (a sinogram).
/// For each of A angles theta (evenly spread over [0, 180) degrees), each detector bin u (one pixel apart, centred on
/// the image centre) records the line integral of the pixel intensities (0..1) along the ray perpendicular to the
/// detector, sampled every half pixel with bilinear interpolation (zero outside the image). Each measurement gets
/// Gaussian sensor noise and is quantised to 8 bits (gain 255/32 per unit of integrated intensity, clipped at 255):
/// the result is an A x bins "image" that a pixel model cannot read directly.
/// </summary>
/// <remarks>
/// Deterministic: the projections are a fixed linear map, and each image's noise is drawn from a generator seeded by
/// the noise seed and a hash of the image's own pixels, so the same image gets the same measurement in any dataset
/// or order. The <c>profiles</c> variant is the special case of two angles (0 and 90 degrees) and 28 bins: the
/// image's column and row intensity sums.
/// </remarks>
public sealed class RadonModality
{
    /// <summary>Integrated intensity that maps to the top of the 8-bit range (a ray crosses at most ~40 pixels;
    /// Fashion-MNIST's garments rarely integrate above 25).</summary>
    public const double FullScale = 32.0;

    private const int Size = DistillModel.ImageSize;
    private const double RayStep = 0.5;
    private readonly float[] projection; // [Angles * Bins, 28 * 28], row-major

    /// <summary>Builds the projector.</summary>
    /// <param name="angles">Projection angles A (1 to 180), evenly spread over [0, 180) degrees.</param>
    /// <param name="bins">Detector bins per angle (1 to 64), one pixel apart.</param>
    /// <param name="noise">Standard deviation of the sensor noise, as a fraction of the full scale (0 to 1).</param>
    /// <param name="noiseSeed">Seed of the noise.</param>
    /// <exception cref="ArgumentOutOfRangeException">A value out of range, named.</exception>
    public RadonModality(int angles, int bins, double noise, int noiseSeed)
    {
        if (angles is < 1 or > 180) throw new ArgumentOutOfRangeException(nameof(angles), angles, "angles must be 1 to 180.");
        if (bins is < 1 or > 64) throw new ArgumentOutOfRangeException(nameof(bins), bins, "bins must be 1 to 64.");
        if (!(noise >= 0 && noise <= 1)) throw new ArgumentOutOfRangeException(nameof(noise), noise, "noise must be in [0, 1].");
        Angles = angles;
        Bins = bins;
        Noise = noise;
        NoiseSeed = noiseSeed;
        projection = BuildProjection(angles, bins);
    }

    /// <summary>The names of the modalities: <c>radon</c> (the settings' angles, 40 bins covering the image's
    /// diagonal) and <c>profiles</c> (column and row sums: 0 and 90 degrees, 28 bins).</summary>
    public static IReadOnlyList<string> Names { get; } = ["radon", "profiles"];

    /// <summary>The projector a modality name stands for.</summary>
    /// <param name="name">One of <see cref="Names"/>.</param>
    /// <param name="angles">Angles of <c>radon</c> (ignored by <c>profiles</c>).</param>
    /// <param name="noise">Sensor noise (fraction of the full scale).</param>
    /// <param name="noiseSeed">Seed of the noise.</param>
    /// <exception cref="ArgumentException">An unknown name (named <c>modality</c>; the message lists the known ones).</exception>
    public static RadonModality Create(string name, int angles, double noise, int noiseSeed) => name switch
    {
        "radon" => new RadonModality(angles, 40, noise, noiseSeed),
        "profiles" => new RadonModality(2, Size, noise, noiseSeed),
        _ => throw new ArgumentException($"modality '{name}' does not exist; known: {string.Join(", ", Names)}.", "modality"),
    };

    /// <summary>Projection angles A (the measurement's height).</summary>
    public int Angles { get; }

    /// <summary>Detector bins per angle (the measurement's width).</summary>
    public int Bins { get; }

    /// <summary>Sensor noise, as a fraction of the full scale.</summary>
    public double Noise { get; }

    /// <summary>Seed of the noise.</summary>
    public int NoiseSeed { get; }

    /// <summary>The angle of projection row <paramref name="a"/>, in degrees.</summary>
    public double AngleDegrees(int a) => 180.0 * a / Angles;

    /// <summary>The noiseless line integrals of one 28x28 image (bytes 0..255 read as intensity/255), [Angles * Bins].</summary>
    /// <param name="image">784 pixels, row-major.</param>
    public double[] Project(ReadOnlySpan<byte> image)
    {
        if (image.Length != Size * Size)
            throw new ArgumentException($"image must have {Size * Size} pixels; got {image.Length}.", nameof(image));
        var result = new double[Angles * Bins];
        for (int r = 0; r < result.Length; r++)
        {
            ReadOnlySpan<float> weights = projection.AsSpan(r * Size * Size, Size * Size);
            double sum = 0;
            for (int p = 0; p < weights.Length; p++)
            {
                if (weights[p] != 0) sum += weights[p] * (image[p] / 255.0);
            }
            result[r] = sum;
        }
        return result;
    }

    /// <summary>
    /// Measures every image of <paramref name="images"/>: a dataset of Angles x Bins measurements in the same order,
    /// carrying <paramref name="labels"/> (one per image), or no labels at all (every label 0) when it is empty.
    /// </summary>
    /// <param name="images">28x28 images.</param>
    /// <param name="labels">The labels the measurements carry; empty for none.</param>
    /// <param name="source">What the dataset is, for logs and reports.</param>
    /// <returns>The measurements.</returns>
    public ImageDataset Measure(ImageDataset images, ReadOnlySpan<byte> labels, string source)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.Height != Size || images.Width != Size)
            throw new ArgumentException($"images must be {Size}x{Size}; got {images.Height}x{images.Width}.", nameof(images));
        if (!labels.IsEmpty && labels.Length != images.Count)
            throw new ArgumentException($"labels needs one label per image ({images.Count}); got {labels.Length}.", nameof(labels));
        int length = Angles * Bins;
        var pixels = new byte[images.Count * length];
        for (int i = 0; i < images.Count; i++)
        {
            ReadOnlySpan<byte> image = images.Image(i);
            double[] clean = Project(image);
            SeededRandom random = SeededRandom.For(NoiseSeed, Hash(image), stream: 11);
            for (int r = 0; r < length; r++)
            {
                double value = clean[r] / FullScale + Noise * Gaussian(random);
                pixels[i * length + r] = (byte)Math.Clamp(Math.Round(value * 255), 0, 255);
            }
        }
        byte[] carried = labels.IsEmpty ? new byte[images.Count] : labels.ToArray();
        return new ImageDataset(pixels, carried, Angles, Bins, images.ClassCount, source);
    }

    /// <inheritdoc/>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"Radon projections at {Angles} angle(s) ({string.Join(", ", Enumerable.Range(0, Angles).Select(a => AngleDegrees(a).ToString("0.#", CultureInfo.InvariantCulture)))} degrees), {Bins} bins 1 px apart, line integrals every {RayStep} px (bilinear), noise sd {Noise:G} of full scale {FullScale:G}, 8-bit");

    /// <summary>The projection matrix: row (a, b) holds the bilinear weights of the ray of angle a through bin b.</summary>
    private static float[] BuildProjection(int angles, int bins)
    {
        var matrix = new float[angles * bins * Size * Size];
        double centre = (Size - 1) / 2.0;
        double halfLength = Math.Sqrt(2) * Size / 2 + 1;
        for (int a = 0; a < angles; a++)
        {
            double theta = Math.PI * a / angles, cos = Math.Cos(theta), sin = Math.Sin(theta);
            for (int b = 0; b < bins; b++)
            {
                double u = b - (bins - 1) / 2.0;
                int row = (a * bins + b) * Size * Size;
                for (double v = -halfLength; v <= halfLength; v += RayStep)
                {
                    // x to the right, y down the rows: at theta = 0 the ray runs down a column.
                    double x = centre + u * cos - v * sin, y = centre + u * sin + v * cos;
                    int x0 = (int)Math.Floor(x), y0 = (int)Math.Floor(y);
                    double fx = x - x0, fy = y - y0;
                    Add(matrix, row, x0, y0, (1 - fx) * (1 - fy) * RayStep);
                    Add(matrix, row, x0 + 1, y0, fx * (1 - fy) * RayStep);
                    Add(matrix, row, x0, y0 + 1, (1 - fx) * fy * RayStep);
                    Add(matrix, row, x0 + 1, y0 + 1, fx * fy * RayStep);
                }
            }
        }
        return matrix;
    }

    private static void Add(float[] matrix, int row, int x, int y, double weight)
    {
        if (x is >= 0 and < Size && y is >= 0 and < Size && weight > 0) matrix[row + y * Size + x] += (float)weight;
    }

    /// <summary>A standard normal draw (Box-Muller).</summary>
    private static double Gaussian(SeededRandom random) =>
        Math.Sqrt(-2 * Math.Log(1 - Uniform(random))) * Math.Cos(2 * Math.PI * Uniform(random));

    /// <summary>A uniform draw in [0, 1) from the top 53 bits.</summary>
    private static double Uniform(SeededRandom random) => (random.NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>FNV-1a over the pixels: the same image gets the same noise wherever it is.</summary>
    private static int Hash(ReadOnlySpan<byte> image)
    {
        uint h = 2166136261;
        foreach (byte b in image) h = (h ^ b) * 16777619;
        return unchecked((int)h);
    }
}
