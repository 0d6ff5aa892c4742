using GpuDistill.Data;
using GpuDistill.Models;
using ScottPlot;
using static TorchSharp.torch;

namespace GpuDistill.Diagnostics;

/// <summary>
/// A PNG of what a generator makes: one row per class, up to <c>perClass</c> images each. A conditional generator's
/// row c holds images it made for label c; an unconditional one's images are sorted into rows by the teacher's
/// prediction (a row stays partly empty when the teacher rarely sees that class in them, which is itself worth seeing).
/// </summary>
public static class GeneratedImageGrid
{
    /// <summary>Generates images (eval mode, no gradient) and writes the grid.</summary>
    /// <param name="generator">The generator (its mode is restored afterwards).</param>
    /// <param name="teacher">The teacher that sorts an unconditional generator's images into classes.</param>
    /// <param name="path">The PNG to write (replaced when it exists).</param>
    /// <param name="perClass">Images per class row (&gt; 0).</param>
    /// <param name="seed">Seed of the latent codes.</param>
    /// <returns>How many cells were filled, per class.</returns>
    public static int[] Write(ImageGenerator generator, DistillModel teacher, string path, int perClass = 10, long seed = 0)
    {
        ArgumentNullException.ThrowIfNull(generator);
        ArgumentNullException.ThrowIfNull(teacher);
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(perClass);
        int classes = DistillModel.ClassCount, size = (int)generator.ImageShape[1];
        var cells = new List<float[]>[classes];
        for (int c = 0; c < classes; c++) cells[c] = [];
        bool wasTraining = generator.training;
        // Train-mode batch norm, as the student saw the images (a DAFL/DFAD generator's running statistics are unused).
        generator.train();
        try
        {
            using var noGrad = no_grad();
            using var random = new Generator(unchecked((ulong)seed + 1));
            // Twice the grid per draw, at most five draws: an unconditional generator that makes few images of a class
            // leaves that row partly empty rather than running on.
            int batch = Math.Max(20, 2 * perClass * classes);
            for (int draw = 0; draw < 5 && cells.Any(c => c.Count < perClass); draw++)
            {
                using var scope = NewDisposeScope();
                Tensor z = generator.SampleLatent(batch, random);
                Tensor labels = generator.IsConditional
                    ? arange(batch, dtype: ScalarType.Int64).remainder(classes)
                    : empty(0);
                Tensor images = generator.IsConditional ? generator.Generate(z, labels) : generator.Generate(z);
                long[] rows = (generator.IsConditional ? labels : teacher.ForwardLogits(images).argmax(1)).data<long>().ToArray();
                float[] pixels = images.mul(FashionMnist.Std).add(FashionMnist.Mean).clamp(0, 1).contiguous().data<float>().ToArray();
                for (int i = 0; i < batch; i++)
                {
                    if (cells[rows[i]].Count < perClass) cells[rows[i]].Add(pixels.AsSpan(i * size * size, size * size).ToArray());
                }
            }
        }
        finally
        {
            generator.train(wasTraining);
        }
        Draw(cells, size, perClass, path);
        return [.. cells.Select(c => c.Count)];
    }

    private static void Draw(List<float[]>[] cells, int size, int perClass, string path)
    {
        int classes = cells.Length, gap = 2;
        int height = classes * (size + gap), width = perClass * (size + gap);
        var values = new double[height, width];
        for (int r = 0; r < height; r++)
        {
            for (int x = 0; x < width; x++) values[r, x] = 0.25; // grey gaps and empty cells
        }
        for (int c = 0; c < classes; c++)
        {
            for (int k = 0; k < cells[c].Count; k++)
            {
                for (int y = 0; y < size; y++)
                {
                    for (int x = 0; x < size; x++) values[c * (size + gap) + y, k * (size + gap) + x] = cells[c][k][y * size + x];
                }
            }
        }
        var plot = new Plot();
        var heatmap = plot.Add.Heatmap(values);
        heatmap.Colormap = new ScottPlot.Colormaps.Grayscale();
        heatmap.ManualRange = new ScottPlot.Range(0, 1);
        // Heatmap row 0 is drawn on top.
        heatmap.Rectangle = new CoordinateRect(0, width, 0, height);
        IReadOnlyList<string> names = FashionMnist.ClassNames;
        plot.Axes.Left.SetTicks([.. Enumerable.Range(0, classes).Select(c => height - (c * (size + gap)) - (size / 2.0))],
            [.. Enumerable.Range(0, classes).Select(c => c < names.Count ? names[c] : $"class {c}")]);
        plot.Axes.Bottom.SetTicks([], []);
        plot.Axes.SetLimits(0, width, 0, height);
        plot.Title("Generated images per class");
        plot.SavePng(path, 160 + (perClass * 60), 80 + (classes * 60));
    }
}
