using GpuDistill.Models;
using GpuDistill.Training;

namespace GpuDistill.Methods;

/// <summary>
/// What every generator-backed method (data-free and adversarial) sets for its generator; each method's settings
/// derive from this record and put their reference code's defaults in their constructor.
/// </summary>
public abstract record GeneratorSettings : MethodSettings
{
    /// <summary>Length of the generator's latent code z.</summary>
    public int LatentSize { get; init; } = 100;

    /// <summary>Generated images per student batch (and per generator step).</summary>
    public int BatchSize { get; init; } = 256;

    /// <summary>Student steps per epoch.</summary>
    public int StepsPerEpoch { get; init; } = 120;

    /// <summary>The generator's Adam learning rate (constant).</summary>
    public double GeneratorLearningRate { get; init; } = 1e-3;

    /// <summary>Feature maps of the generator after its projection (DAFL's 128; smaller is cheaper on a CPU).</summary>
    public int GeneratorWidth { get; init; } = Models.ImageGenerator.DefaultWidth;

    /// <summary>Images per class in the PNG grid drawn at the end of each run.</summary>
    public int GridImagesPerClass { get; init; } = 10;

    /// <summary>Whether the generator ends in an affine-free batch norm (DAFL's and DFAD's generators) instead of
    /// images in the loader's normalised pixel range.</summary>
    public bool BatchNormalizedOutput { get; init; }

    /// <summary>Student steps per generator step (1: a generator step before every student step).</summary>
    public int StudentStepsPerGeneratorStep { get; init; } = 1;

    /// <summary>Generated images kept, with the teacher's logits, for the student to draw its batches from
    /// (<see cref="Training.GeneratedImageMemory"/>, CMI's and Fast-DFKD's data pool); 0, the references' way, trains
    /// the student on each new batch only.</summary>
    public int Memory { get; init; }

    /// <summary>What is done to each draw from the memory, the teacher then labelling the result: "none",
    /// "shift-flip" or "shift-flip-mixup" (<see cref="Training.MemoryAugmentation"/>); anything but none needs a
    /// memory.</summary>
    public string MemoryAugmentation { get; init; } = "none";

    /// <summary>Every this many epochs the generator starts again from new weights and a fresh optimizer (CMI's
    /// reset, once an epoch rather than once a batch), so the images it adds to the memory differ from its
    /// predecessor's; 0 (the default) never.</summary>
    public int GeneratorResetEpochs { get; init; }

    /// <inheritdoc/>
    public override void Validate()
    {
        Require(LatentSize > 0, "latentSize", LatentSize, "> 0");
        Require(BatchSize > 1, "batchSize", BatchSize, "> 1 (the generator's batch norms need two images)");
        Require(StepsPerEpoch > 0, "stepsPerEpoch", StepsPerEpoch, "> 0");
        Require(GeneratorWidth >= 2, "generatorWidth", GeneratorWidth, ">= 2");
        Require(StudentStepsPerGeneratorStep > 0, "studentStepsPerGeneratorStep", StudentStepsPerGeneratorStep, "> 0");
        Require(Memory == 0 || Memory >= BatchSize, "memory", Memory, $"0 (none) or at least batchSize ({BatchSize})");
        Require(MemoryAugmentations.Names.Contains(MemoryAugmentation), "memoryAugmentation", MemoryAugmentation,
            $"one of {string.Join(", ", MemoryAugmentations.Names)}");
        Require(MemoryAugmentation == "none" || Memory > 0, "memoryAugmentation", MemoryAugmentation, "none while memory is 0 (it changes draws from the memory)");
        Require(GeneratorResetEpochs >= 0, "generatorResetEpochs", GeneratorResetEpochs, ">= 0 (0: never)");
        Require(GridImagesPerClass > 0, "gridImagesPerClass", GridImagesPerClass, "> 0");
        Require(double.IsFinite(GeneratorLearningRate) && GeneratorLearningRate > 0, "generatorLearningRate", GeneratorLearningRate, "finite and > 0");
    }

    /// <summary>The run's generator as these settings describe it, seeded from the run's seed.</summary>
    /// <param name="seed">The run's seed.</param>
    /// <param name="classes">Classes of a conditional generator; 0 for an unconditional one.</param>
    internal ImageGenerator CreateGenerator(int seed, int classes) =>
        new(ImageGenerator.WeightSeed(seed), LatentSize, classes, BatchNormalizedOutput ? GeneratorOutput.BatchNormalized : GeneratorOutput.Pixels,
            width: GeneratorWidth);

    /// <summary>The batch source these settings describe (batch size, generator learning rate, schedule, memory and its
    /// augmentation), for <paramref name="stepsPerEpoch"/> student steps.</summary>
    internal GeneratorBatchSource CreateSource(ImageGenerator generator, DistillModel teacher, IGeneratorGame game, int stepsPerEpoch,
        int seed, (double Beta1, double Beta2)? betas = null) =>
        new(generator, teacher, game, BatchSize, stepsPerEpoch, GeneratorLearningRate, seed, betas, Memory, StudentStepsPerGeneratorStep,
            MemoryAugmentations.Parse(MemoryAugmentation), GeneratorResetEpochs);

    /// <summary>Requires a finite, non-negative loss weight.</summary>
    protected static void RequireWeight(double value, string key) => Require(double.IsFinite(value) && value >= 0, key, value, "finite and >= 0");
}
