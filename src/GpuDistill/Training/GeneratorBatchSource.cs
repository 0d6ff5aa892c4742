using System.Globalization;
using GpuDistill.Data;
using GpuDistill.Models;
using GpuDistill.Validation;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill.Training;

/// <summary>
/// Training batches that a generator makes (data-free and adversarial distillation): before each student step the
/// method's <see cref="IGeneratorGame"/> updates the generator, then the source hands the trainer a batch of the
/// generator's images (detached; or a draw from a <see cref="GeneratedImageMemory"/> of them), labelled with the teacher's predictions (shown as the run's training accuracy; the
/// data-free losses read the teacher's logits, not the labels). The generator, its Adam optimiser and the game's extra
/// modules are saved with the student's checkpoint after every epoch and restored on resume.
/// </summary>
/// <remarks>
/// The teacher must run live on these batches (<see cref="TeacherOutputs.Create"/> with <c>cache: false</c>): the
/// batches carry no dataset indices (they are -1, so a cache lookup fails loudly instead of reading wrong rows).
/// Latent codes come from a random source seeded by the run's seed and the epoch, so a resumed epoch draws what the
/// original would have.
/// </remarks>
public sealed class GeneratorBatchSource : ICheckpointedSource, IDisposable
{
    private readonly IGeneratorGame game;
    private readonly long seed;
    private readonly int studentStepsPerGeneratorStep;
    private readonly double learningRate, beta1, beta2;
    private readonly int resetEpochs;
    private Generator random;

    /// <summary>Builds the source; the generator's images must fit the teacher's input.</summary>
    /// <param name="generator">The generator (it is trained; the caller disposes it).</param>
    /// <param name="teacher">The frozen teacher: put in eval mode, its weights get no gradient.</param>
    /// <param name="game">The method's generator updates.</param>
    /// <param name="batchSize">Images per student batch (&gt; 0).</param>
    /// <param name="stepsPerEpoch">Student steps per epoch (&gt; 0).</param>
    /// <param name="learningRate">The generator's Adam learning rate (finite, &gt; 0).</param>
    /// <param name="seed">Seed of the latent codes.</param>
    /// <param name="betas">Adam's (beta1, beta2); (0.9, 0.999) when null.</param>
    /// <param name="memory">Generated images kept with their teacher logits (<see cref="GeneratedImageMemory"/>), 0 for
    /// none; else at least <paramref name="batchSize"/>.</param>
    /// <param name="studentStepsPerGeneratorStep">The game is asked before every this many student steps (&gt; 0); the
    /// steps between take a fresh batch, or a draw from the memory.</param>
    /// <param name="augmentation">What is done to each draw from the memory (the teacher then runs on the result);
    /// anything but none needs a memory.</param>
    /// <param name="resetEpochs">Every this many epochs the generator gets new weights and a fresh optimizer; 0 never.</param>
    /// <exception cref="ArgumentException">The generator's images do not fit the teacher, or a bad number.</exception>
    public GeneratorBatchSource(ImageGenerator generator, DistillModel teacher, IGeneratorGame game, int batchSize,
        int stepsPerEpoch, double learningRate, long seed, (double Beta1, double Beta2)? betas = null, int memory = 0, int studentStepsPerGeneratorStep = 1,
        MemoryAugmentation augmentation = MemoryAugmentation.None, int resetEpochs = 0)
    {
        ArgumentNullException.ThrowIfNull(generator);
        ArgumentNullException.ThrowIfNull(teacher);
        ArgumentNullException.ThrowIfNull(game);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(stepsPerEpoch);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(studentStepsPerGeneratorStep);
        ArgumentOutOfRangeException.ThrowIfNegative(resetEpochs);
        if (!double.IsFinite(learningRate) || learningRate <= 0)
            throw new ArgumentOutOfRangeException(nameof(learningRate), learningRate, "learningRate must be finite and > 0.");
        if (memory != 0 && memory < batchSize)
            throw new ArgumentOutOfRangeException(nameof(memory), memory, $"memory must be 0 (none) or at least the batch size ({batchSize}).");
        if (augmentation != MemoryAugmentation.None && memory == 0)
            throw new ArgumentException($"augmentation {augmentation} changes draws from the memory; memory is 0 (none).", nameof(augmentation));
        generator.RequireFits(teacher);
        teacher.eval();
        foreach (var p in teacher.parameters()) p.requires_grad = false;
        Generator = generator;
        Teacher = teacher;
        this.game = game;
        this.seed = seed;
        BatchSize = batchSize;
        BatchCount = stepsPerEpoch;
        this.studentStepsPerGeneratorStep = studentStepsPerGeneratorStep;
        Augmentation = augmentation;
        (this.beta1, this.beta2) = betas ?? (0.9, 0.999);
        this.learningRate = learningRate;
        this.resetEpochs = resetEpochs;
        Optimizer = optim.Adam(generator.parameters(), learningRate, beta1, beta2);
        random = new Generator(LatentSeed(0));
        Memory = memory == 0 ? null : new GeneratedImageMemory(memory, generator.ImageShape, DistillModel.ClassCount);
    }

    /// <summary>The generated images kept for the student's draws, or null when the student learns on each new batch.</summary>
    public GeneratedImageMemory? Memory { get; }

    /// <summary>What is done to each draw from the <see cref="Memory"/>.</summary>
    public MemoryAugmentation Augmentation { get; }

    /// <summary>The generator.</summary>
    public ImageGenerator Generator { get; }

    /// <summary>The frozen teacher (eval mode).</summary>
    public DistillModel Teacher { get; }

    /// <summary>The generator's optimiser.</summary>
    public optim.Optimizer Optimizer { get; private set; }

    /// <summary>Images per student batch.</summary>
    public int BatchSize { get; }

    /// <inheritdoc/>
    public int BatchCount { get; }

    /// <summary>Images the generator has made so far in this run (student batches and generator steps; restored on
    /// resume).</summary>
    public long ImagesGenerated { get; private set; }

    /// <summary>Generator steps taken so far in this run (restored on resume).</summary>
    public long GeneratorSteps { get; private set; }

    /// <summary>How many times this process replaced the generator by a new one (every <c>resetEpochs</c> epochs).</summary>
    public int GeneratorResets { get; private set; }

    /// <summary>The mean generator loss of the last epoch (NaN before any step).</summary>
    public double LastEpochGeneratorLoss { get; private set; } = double.NaN;

    private double lossSum;
    private long lossCount;

    /// <summary>Latent codes [B, latent] from the source's seeded random stream.</summary>
    /// <param name="batch">B &gt; 0.</param>
    public Tensor Latent(int batch) => Generator.SampleLatent(batch, random);

    /// <summary>Class labels [B] drawn uniformly from the source's seeded random stream (for a conditional generator).</summary>
    /// <param name="batch">B &gt; 0.</param>
    public Tensor RandomLabels(int batch) => randint(0, DistillModel.ClassCount, [batch], dtype: ScalarType.Int64, generator: random);

    /// <summary>A batch of the generator's images, with gradient back to the generator (train mode); counted in
    /// <see cref="ImagesGenerated"/>.</summary>
    /// <param name="batch">B &gt; 0.</param>
    /// <param name="labels">Labels [B] for a conditional generator; drawn at random when null.</param>
    public Tensor Generate(int batch, Tensor? labels = null) => Generate(Latent(batch), labels);

    /// <summary>The generator's images for the latent codes <paramref name="latent"/> [B, latent], as
    /// <see cref="Generate(int, Tensor?)"/>.</summary>
    /// <param name="latent">Codes [B, latent], e.g. from <see cref="Latent"/>.</param>
    /// <param name="labels">Labels [B] for a conditional generator; drawn at random when null.</param>
    public Tensor Generate(Tensor latent, Tensor? labels = null)
    {
        ArgumentNullException.ThrowIfNull(latent);
        Generator.train();
        int batch = (int)latent.shape[0];
        Tensor images = Generator.IsConditional ? Generator.Generate(latent, labels ?? RandomLabels(batch)) : Generator.Generate(latent);
        ImagesGenerated += batch;
        return images;
    }

    /// <summary>One generator update: zero the generator's gradients, back-propagate <paramref name="loss"/>, step.
    /// Gradients that reach the student on the way are left for the trainer, which zeroes them before its own step.</summary>
    /// <param name="loss">The generator's scalar loss.</param>
    /// <param name="epoch">The 0-based epoch (for the message of a diverged loss).</param>
    /// <param name="step">The 0-based student step (for the message of a diverged loss).</param>
    /// <exception cref="TrainingDivergedException">The loss is NaN or infinite.</exception>
    public void GeneratorStep(Tensor loss, int epoch, int step)
    {
        ArgumentNullException.ThrowIfNull(loss);
        double value = loss.item<float>();
        if (!double.IsFinite(value))
            throw new TrainingDivergedException($"generator: training diverged: the generator's loss became NaN or infinite at epoch {epoch + 1}, step {step + 1}")
            { What = "the generator's loss", Epoch = epoch + 1, Step = step + 1 };
        Optimizer.zero_grad();
        loss.backward();
        Optimizer.step();
        GeneratorSteps++;
        lossSum += value;
        lossCount++;
    }

    /// <inheritdoc/>
    public IEnumerable<ImageBatch> Epoch(int epoch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        random.Dispose();
        random = new Generator(LatentSeed(epoch));
        if (resetEpochs > 0 && epoch > 0 && epoch % resetEpochs == 0) ResetGenerator(epoch);
        (lossSum, lossCount) = (0, 0);
        for (int step = 0; step < BatchCount; step++)
        {
            yield return NextBatch(epoch, step);
        }
        LastEpochGeneratorLoss = lossCount == 0 ? double.NaN : lossSum / lossCount;
    }

    /// <remarks>
    /// Without a memory the student learns on the game's images, or a fresh batch when the game returns none. With one,
    /// new images go into the memory and the student learns on a draw from it; a step where the game makes no images
    /// draws from the memory alone (no generator or teacher pass) once it holds a batch.
    /// </remarks>
    /// <summary>
    /// A new generator in place of the trained one (new weights, a fresh Adam): it finds other images than its
    /// predecessor, which had settled on a few per class, while the memory still holds the predecessor's (CMI,
    /// Fang et al. 2021, resets its generator for every batch it synthesises). A resumed run resets at the same epochs.
    /// </summary>
    private void ResetGenerator(int epoch)
    {
        Generator.Reinitialize(ImageGenerator.WeightSeed(seed, epoch));
        Optimizer.Dispose();
        Optimizer = optim.Adam(Generator.parameters(), learningRate, beta1, beta2);
        GeneratorResets++;
    }

    private ImageBatch NextBatch(int epoch, int step)
    {
        using var scope = NewDisposeScope();
        GameImages? made = step % studentStepsPerGeneratorStep == 0 ? game.BeforeStudentStep(this, epoch, step) : null;
        using (no_grad())
        {
            Tensor images, logits;
            if (made is null && Memory is { } replay && replay.Count >= BatchSize)
            {
                (images, logits) = Draw(replay);
            }
            else
            {
                images = made is null ? Generate(BatchSize) : made.Images.detach();
                RequireImages(images, epoch, step);
                logits = made?.TeacherLogits is { } given ? RequireLogits(given.detach(), images, epoch, step) : Teacher.ForwardLogits(images);
                if (Memory is { } memory)
                {
                    memory.Add(images, logits);
                    (images, logits) = Draw(memory);
                }
            }
            Tensor labels = logits.argmax(1);
            int count = (int)images.shape[0];
            // The logits go with the batch, so that TeacherOutputs does not run the teacher on it a second time.
            return new ImageBatch(images.MoveToOuterDisposeScope(), labels.MoveToOuterDisposeScope(), [.. Enumerable.Repeat(-1, count)],
                new TeacherPass(Teacher, logits.MoveToOuterDisposeScope()));
        }
    }

    private (Tensor Images, Tensor Logits) Draw(GeneratedImageMemory memory)
    {
        (Tensor images, Tensor logits) = memory.Sample(BatchSize, random);
        if (Augmentation == MemoryAugmentation.None) return (images, logits);
        images = MemoryAugmentations.Apply(images, Augmentation, random);
        return (images, Teacher.ForwardLogits(images));
    }

    private static Tensor RequireLogits(Tensor logits, Tensor images, int epoch, int step)
    {
        if (logits.dim() != 2 || logits.shape[0] != images.shape[0] || logits.shape[1] != DistillModel.ClassCount || logits.dtype != ScalarType.Float32)
            throw new ArgumentException(
                $"The teacher logits a game handed over at epoch {epoch + 1}, step {step + 1} are {logits.dtype} {TensorChecks.Shape(logits)}; expected float32 [{images.shape[0]}, {DistillModel.ClassCount}].",
                nameof(logits));
        return logits;
    }

    private void RequireImages(Tensor images, int epoch, int step)
    {
        long[] expected = [images.shape[0], .. Generator.ImageShape];
        if (images.dim() != 4 || !images.shape.SequenceEqual(expected) || images.dtype != ScalarType.Float32)
            throw new ArgumentException(
                $"The generated batch at epoch {epoch + 1}, step {step + 1} is {images.dtype} {TensorChecks.Shape(images)}; the teacher takes float32 [B, {string.Join(", ", Generator.ImageShape)}].",
                nameof(images));
        if (!isfinite(images).all().item<bool>())
        {
            throw new TrainingDivergedException(
                $"generator: training diverged: the generated batch at epoch {epoch + 1}, step {step + 1} holds NaN or infinite values (expected finite images)")
            { What = "the generator's images", Epoch = epoch + 1, Step = step + 1 };
        }
    }

    /// <inheritdoc/>
    public IReadOnlyList<string> Save(string directory, string prefix)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        List<string> files = TrainedModules.Save(directory, prefix, Trained());
        string counters = $"{prefix}.counters.pt";
        AtomicFile.Write(Path.Combine(directory, counters), writer =>
        {
            writer.Write(ImagesGenerated);
            writer.Write(GeneratorSteps);
        });
        files.Add(counters);
        if (Memory is { } memory)
        {
            // Named like the other checkpoint files (epoch-N.*.pt), so the trainer prunes earlier epochs' copies.
            string kept = $"{prefix}.memory.pt";
            AtomicFile.Write(Path.Combine(directory, kept), memory.Save);
            files.Add(kept);
        }
        return files;
    }

    /// <inheritdoc/>
    public void Load(string directory, IReadOnlyList<string> files)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        TrainedModules.Load(directory, files, Trained());
        using var counters = new BinaryReader(File.OpenRead(Path.Combine(directory, TrainedModules.Find(files, ".counters.pt"))));
        ImagesGenerated = counters.ReadInt64();
        GeneratorSteps = counters.ReadInt64();
        if (Memory is { } memory)
        {
            using var kept = new BinaryReader(File.OpenRead(Path.Combine(directory, TrainedModules.Find(files, ".memory.pt"))));
            memory.Load(kept);
        }
    }

    /// <summary>Frees the optimiser and the random stream (not the generator or the teacher).</summary>
    public void Dispose()
    {
        Optimizer.Dispose();
        random.Dispose();
        Memory?.Dispose();
    }

    private IEnumerable<TrainedModule> Trained() => [new TrainedModule("generator", Generator, Optimizer), .. game.Extras];

    private ulong LatentSeed(int epoch) => unchecked((ulong)(seed * 1_000_003L + epoch + 1));

    /// <inheritdoc/>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Generator.Description}; {BatchCount} batches of {BatchSize} per epoch{(Memory is null ? "" : $", drawn from a memory of the last {Memory.Capacity:N0} generated images")}{(Augmentation == MemoryAugmentation.None ? "" : $", augmented ({Augmentation}) and labelled by the teacher again")}");
}
