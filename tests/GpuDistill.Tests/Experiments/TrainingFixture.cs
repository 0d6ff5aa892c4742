using GpuDistill.Data;
using GpuDistill.Training;

namespace GpuDistill.Tests.Experiments;

/// <summary>
/// Base of the trainer fixtures: a small stratified slice of the embedded data, loaded once, and a fresh temporary
/// directory per test for checkpoints.
/// </summary>
/// <param name="trainPerClass">Training images per class.</param>
/// <param name="testPerClass">Test images per class.</param>
public abstract class TrainingFixture(int trainPerClass, int testPerClass)
{
    protected ImageDataset Train { get; private set; } = null!;

    protected ImageDataset Test { get; private set; } = null!;

    protected string RunDirectory { get; private set; } = null!;

    [OneTimeSetUp]
    public void LoadData()
    {
        (ImageDataset fullTrain, ImageDataset fullTest) = FashionMnist.LoadEmbedded();
        Train = fullTrain.StratifiedSample(trainPerClass, 3, "trainer test slice");
        Test = fullTest.StratifiedSample(testPerClass, 3, "trainer test slice");
    }

    [SetUp] public void CreateDirectory() => RunDirectory = System.IO.Directory.CreateTempSubdirectory("gpudistill-trainer-").FullName;

    [TearDown] public void DeleteDirectory() => System.IO.Directory.Delete(RunDirectory, recursive: true);

    protected static TrainingOptions Options(int epochs) => new() { Epochs = epochs, BatchSize = 50, LearningRate = 0.05, Seed = 3 };
}
