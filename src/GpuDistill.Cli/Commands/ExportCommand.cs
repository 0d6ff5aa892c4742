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
/// file (float, or QDQ with --bits), checks it in ONNX Runtime against TorchSharp on a test set (the embedded one, or
/// the full one with --data), and optionally times it.
/// </summary>
/// <remarks>
/// With --bits the weights may be a quantized model's checkpoint (quantization-aware training: weights with their
/// activation ranges or learned steps, trained at those bits) or a float model's, which is then quantized after
/// training: its activation ranges are calibrated on training images (the embedded subset's, or --data's).
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

        [CommandOption("--edge-bits <N>")]
        [Description("With --bits: the first and last layers have N-bit weights and activations (as a checkpoint trained with edgeLayerBits: N), 2..8.")]
        public int? EdgeBits { get; init; }

        [CommandOption("--calibration-images <N>")]
        [Description("Training images that calibrate a float model's activation ranges for --bits (default 512).")]
        public int CalibrationImages { get; init; } = 512;

        [CommandOption("--data <DIR>")]
        [Description("Directory with the four Fashion-MNIST IDX files: the check runs on its test set and --bits calibrates on its training images. Default: the embedded subset.")]
        public string? Data { get; init; }

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
        RequireExportBits(settings.Bits, "--bits");
        RequireExportBits(settings.EdgeBits, "--edge-bits");
        if (settings.EdgeBits is not null && settings.Bits is null) throw new ArgumentException("--edge-bits needs --bits.", "--edge-bits");
        if (!ModelFactory.IsKnown(settings.Architecture))
            throw new ArgumentException($"--arch: {ModelFactory.UnknownMessage(settings.Architecture)}", "--arch");
        if (!File.Exists(settings.Model))
            throw new FileNotFoundException($"No weights at '{settings.Model}'.", settings.Model);

        if (settings.Data is string directory && !Directory.Exists(directory))
            throw new DirectoryNotFoundException($"--data: no directory '{directory}' (expected the four Fashion-MNIST IDX files).");
        (ImageDataset train, ImageDataset test) = FashionMnist.Load(settings.Data);
        string which = settings.Data is null ? "embedded test images" : "test images";
        using DistillModel model = settings.Bits is int bits
            ? LoadQuantized(settings, bits, train)
            : LoadFloat(settings.Architecture, settings.Model);
        model.eval();
        Export.ToOnnx(model, settings.Out);
        long size = new FileInfo(settings.Out).Length;
        AnsiConsole.MarkupLine($"wrote [bold]{Markup.Escape(settings.Out)}[/] ({size / 1024.0:F1} KiB, opset {Export.Opset}): {Markup.Escape(model.ToString())}");

        OnnxCheck check = OnnxCheck.Run(model, settings.Out, test);
        AnsiConsole.MarkupLine(string.Create(CultureInfo.InvariantCulture,
            $"ONNX Runtime vs TorchSharp on {check.Images} {which}: top-1 agreement [bold]{check.Agreement:P2}[/], max |logit difference| {check.MaxLogitDifference:G3}; accuracy {check.OnnxAccuracy:P2} in ONNX Runtime, {check.TorchAccuracy:P2} in TorchSharp ({100 * (check.OnnxAccuracy - check.TorchAccuracy):+0.00;-0.00;0.00} points)"));
        if (settings.Latency)
            AnsiConsole.MarkupLine(Markup.Escape(OnnxLatency.Measure(settings.Out).ToString()));
        return 0;
    }

    /// <summary>A bit width the QDQ export holds (2..8), or none.</summary>
    private static void RequireExportBits(int? bits, string option)
    {
        if (bits is int requested && requested is < IntegerGrid.MinimumBits or > 8)
        {
            throw new ArgumentOutOfRangeException(option, requested,
                $"{option} must be in {IntegerGrid.MinimumBits}..8 (the QDQ export holds up to 8 bits); got {requested}.");
        }
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
        // The edge width does not change the state's shapes, so any edge option loads a checkpoint trained with one;
        // the state then says which it was.
        int?[] edgeOptions = settings.EdgeBits is int asked ? [asked, null] : [null, IntegerGrid.MaximumBits];
        var candidates = from scaling in Enum.GetValues<ActivationScaling>()
                         from edge in edgeOptions
                         from weights in Enum.GetValues<WeightScaling>()
                         select new QuantizationOptions { WeightBits = bits, ActivationBits = bits, ActivationScaling = scaling, EdgeLayerBits = edge, WeightScaling = weights };
        foreach (QuantizationOptions options in candidates)
        {
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
            if (candidate.EdgeBitsInState != settings.EdgeBits)
            {
                int? trained = candidate.EdgeBitsInState;
                candidate.Dispose();
                throw new ArgumentException(trained is int e
                    ? $"'{settings.Model}' was trained with its first and last layers at {e} bits; export it with --edge-bits {e}."
                    : $"'{settings.Model}' was trained with every layer at {bits} bits; export it without --edge-bits.", "--edge-bits");
            }
            AnsiConsole.MarkupLine($"[grey]quantized checkpoint ({Markup.Escape(options.ToString())})[/]");
            return candidate;
        }

        DistillModel plain = LoadFloat(settings.Architecture, settings.Model);
        QuantizedModel calibrated = QuantizedModel.Wrap(plain, new QuantizationOptions { WeightBits = bits, ActivationBits = bits, EdgeLayerBits = settings.EdgeBits });
        int count = Math.Min(settings.CalibrationImages, train.Count);
        ImageDataset sample = train.Subset([.. Enumerable.Range(0, train.Count).Where(i => i % Math.Max(1, train.Count / count) == 0).Take(count)], "calibration");
        calibrated.Calibrate(Images(sample));
        AnsiConsole.MarkupLine($"[grey]float weights, quantized after training: activation ranges calibrated on {sample.Count} training images[/]");
        return calibrated;
    }

    private static IEnumerable<Tensor> Images(ImageDataset data)
    {
        foreach (ImageBatch batch in new ImageBatcher(data, 128).Epoch(0))
        {
            using (batch) yield return batch.Images.alias();
        }
    }
}
