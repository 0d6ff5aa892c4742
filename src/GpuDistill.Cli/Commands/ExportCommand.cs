using System.ComponentModel;
using System.Globalization;
using GpuDistill.Data;
using GpuDistill.Deployment;
using GpuDistill.Models;
using GpuDistill.Quantization;
using Spectre.Console;
using Spectre.Console.Cli;
using static TorchSharp.torch;

namespace GpuDistill.Cli.Commands;

/// <summary>
/// <c>gpudistill export --model FILE --arch NAME --out model.onnx [--bits N]</c>: writes saved weights as an ONNX
/// file (float, or QDQ with --bits), checks it in ONNX Runtime against TorchSharp on the embedded test images, and
/// optionally times it.
/// </summary>
/// <remarks>
/// With --bits the weights may be a quantized model's checkpoint (quantization-aware training: weights with their
/// activation ranges or learned steps, trained at those bits) or a float model's, which is then quantized after
/// training: its activation ranges are calibrated on images of the embedded training subset.
/// </remarks>
internal sealed class ExportCommand : Command<ExportCommand.Settings>
{
    internal sealed class Settings : CommandSettings
    {
        [CommandOption("--model <FILE>")]
        [Description("Saved weights: a float model's, or a quantized model's checkpoint (with --bits).")]
        public string Model { get; init; } = "";

        [CommandOption("--arch <NAME>")]
        [Description("Architecture of the weights: teacher-cnn, mid-cnn, small-cnn or mlp.")]
        public string Architecture { get; init; } = "";

        [CommandOption("--out <FILE>")]
        [Description("The .onnx file to write.")]
        public string Out { get; init; } = "";

        [CommandOption("--bits <N>")]
        [Description("Write the QDQ form with N-bit weights and activations (2..8); without it the float model.")]
        public int? Bits { get; init; }

        [CommandOption("--calibration-images <N>")]
        [Description("Images of the embedded training subset that calibrate a float model's activation ranges for --bits (default 512).")]
        public int CalibrationImages { get; init; } = 512;

        [CommandOption("--latency")]
        [Description("Also measure ONNX Runtime's latency per image at batch 1 and 256.")]
        public bool Latency { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        // Checked here rather than in Settings.Validate, so the command line's handler reports them as sentences.
        if (string.IsNullOrWhiteSpace(settings.Model)) throw new ArgumentException("--model FILE is required.", "--model");
        if (string.IsNullOrWhiteSpace(settings.Out)) throw new ArgumentException("--out FILE is required.", "--out");
        if (settings.CalibrationImages <= 0)
            throw new ArgumentOutOfRangeException("--calibration-images", settings.CalibrationImages, "--calibration-images must be positive.");
        if (settings.Bits is int requested && requested is < IntegerGrid.MinimumBits or > 8)
        {
            throw new ArgumentOutOfRangeException("--bits", requested,
                $"--bits must be in {IntegerGrid.MinimumBits}..8 (the QDQ export holds up to 8 bits); got {requested}.");
        }
        if (!ModelFactory.IsKnown(settings.Architecture))
            throw new ArgumentException($"--arch: {ModelFactory.UnknownMessage(settings.Architecture)}", "--arch");
        if (!File.Exists(settings.Model))
            throw new FileNotFoundException($"No weights at '{settings.Model}'.", settings.Model);

        (ImageDataset train, ImageDataset test) = FashionMnist.LoadEmbedded();
        using DistillModel model = settings.Bits is int bits
            ? LoadQuantized(settings, bits, train)
            : LoadFloat(settings.Architecture, settings.Model);
        model.eval();
        Export.ToOnnx(model, settings.Out);
        long size = new FileInfo(settings.Out).Length;
        AnsiConsole.MarkupLine($"wrote [bold]{Markup.Escape(settings.Out)}[/] ({size / 1024.0:F1} KiB, opset {Export.Opset}): {Markup.Escape(model.ToString())}");

        (double agreement, double maxError) = Check(model, settings.Out, test);
        AnsiConsole.MarkupLine(string.Create(CultureInfo.InvariantCulture,
            $"ONNX Runtime vs TorchSharp on {test.Count} embedded test images: top-1 agreement [bold]{agreement:P2}[/], max |logit difference| {maxError:G3}"));
        if (settings.Latency)
            AnsiConsole.MarkupLine(Markup.Escape(OnnxLatency.Measure(settings.Out).ToString()));
        return 0;
    }

    private static DistillModel LoadFloat(string architecture, string path)
    {
        DistillModel model = ModelFactory.Create(architecture, 0);
        try
        {
            Checkpoint.TryLoad(model, path);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>A quantized checkpoint of either activation scaling, or else float weights calibrated after training.</summary>
    private static QuantizedModel LoadQuantized(Settings settings, int bits, ImageDataset train)
    {
        foreach (ActivationScaling scaling in Enum.GetValues<ActivationScaling>())
        {
            var options = new QuantizationOptions { WeightBits = bits, ActivationBits = bits, ActivationScaling = scaling };
            QuantizedModel candidate = QuantizedModel.Wrap(ModelFactory.Create(settings.Architecture, 0), options);
            try
            {
                Checkpoint.TryLoad(candidate, settings.Model);
            }
            catch (InvalidDataException)
            {
                // Not a quantized checkpoint of this kind; try the next, then float weights.
                candidate.Dispose();
                continue;
            }
            if (candidate.BitsInState != (bits, bits))
            {
                (int w, int a) = candidate.BitsInState;
                candidate.Dispose();
                throw new ArgumentException($"'{settings.Model}' was trained with {w}-bit weights and {a}-bit activations; export it with --bits {w} (mixed widths are not supported here).", "--bits");
            }
            AnsiConsole.MarkupLine($"[grey]quantized checkpoint ({Markup.Escape(options.ToString())})[/]");
            return candidate;
        }

        DistillModel plain = LoadFloat(settings.Architecture, settings.Model);
        QuantizedModel calibrated = QuantizedModel.Wrap(plain, new QuantizationOptions { WeightBits = bits, ActivationBits = bits });
        int count = Math.Min(settings.CalibrationImages, train.Count);
        ImageDataset sample = train.Subset([.. Enumerable.Range(0, train.Count).Where(i => i % Math.Max(1, train.Count / count) == 0).Take(count)], "calibration");
        calibrated.Calibrate(Images(sample));
        AnsiConsole.MarkupLine($"[grey]float weights, quantized after training: activation ranges calibrated on {sample.Count} embedded training images[/]");
        return calibrated;
    }

    private static (double Agreement, double MaxError) Check(DistillModel model, string path, ImageDataset test)
    {
        using var runner = new OnnxRunner(path);
        long agree = 0;
        double maxError = 0;
        foreach (ImageBatch batch in new ImageBatcher(test, 256).Epoch(0))
        {
            using (batch)
            using (var scope = NewDisposeScope())
            using (no_grad())
            {
                Tensor expected = model.ForwardLogits(batch.Images);
                Tensor actual = runner.Run(batch.Images);
                agree += actual.argmax(1).eq(expected.argmax(1)).sum().item<long>();
                maxError = Math.Max(maxError, actual.sub(expected).abs().max().item<float>());
            }
        }
        return ((double)agree / test.Count, maxError);
    }

    private static IEnumerable<Tensor> Images(ImageDataset data)
    {
        foreach (ImageBatch batch in new ImageBatcher(data, 128).Epoch(0))
        {
            using (batch) yield return batch.Images.alias();
        }
    }
}
