// A feature method on the user's own models: FeatureCapture reads intermediate layers by module path (the names
// TorchSharp gives submodules) through forward hooks, and the student learns the teacher's attention maps
// (attention transfer, a fused kernel) and its batch similarities (similarity-preserving) next to cross-entropy.
// Nothing about the models is GpuDistill's. Run: dotnet run --project examples/FeatureDistillation [-- --quick]
using GpuDistill;
using GpuDistill.Data;
using GpuDistill.Features;
using TorchSharp;
using static TorchSharp.torch;

bool quick = args.Contains("--quick");
int epochs = quick ? 2 : 4;
manual_seed(1);
(ImageDataset train, ImageDataset test) = FashionMnist.LoadEmbedded();
if (quick) train = train.StratifiedSample(150, 1, "quick");

nn.Module<Tensor, Tensor> teacher = Cnn(32), student = Cnn(8);

// The teacher learns alone; then the student learns from its "block2" (the output of the second conv block).
Train("teacher", teacher, null, (logits, batch, captured) => nn.functional.cross_entropy(logits, batch.Labels));
teacher.eval();
using var teacherLayers = new FeatureCapture(teacher, ["block2"]);
using var studentLayers = new FeatureCapture(student, ["block2"]);
Train("student", student, studentLayers, (logits, batch, captured) =>
{
    using (no_grad()) teacher.call(batch.Images);        // fills teacherLayers["block2"]
    Tensor s = captured["block2"], t = teacherLayers["block2"];
    Tensor loss = nn.functional.cross_entropy(logits, batch.Labels)
        + 1000 * Losses.AttentionTransfer(s, t)          // student 8 channels, teacher 32: the maps have no channels
        + 3000 * Losses.SimilarityPreserving(s, t);      // B x B similarities: the widths may differ too
    teacherLayers.Clear();
    return loss;
});

// conv blocks named block1, block2, then the classifier: any TorchSharp model works the same way.
static nn.Module<Tensor, Tensor> Cnn(int width) => nn.Sequential(
    ("block1", nn.Sequential(nn.Conv2d(1, width, 3, padding: 1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2))),
    ("block2", nn.Sequential(nn.Conv2d(width, 2 * width, 3, padding: 1), nn.BatchNorm2d(2 * width), nn.ReLU(), nn.MaxPool2d(2))),
    ("pool", nn.AdaptiveAvgPool2d(1)),
    ("flatten", nn.Flatten()),
    ("head", nn.Linear(2 * width, 10)));

void Train(string name, nn.Module<Tensor, Tensor> model, FeatureCapture? capture, Func<Tensor, ImageBatch, FeatureCapture, Tensor> loss)
{
    var optimizer = optim.SGD(model.parameters(), 0.05, momentum: 0.9);
    var batcher = new ImageBatcher(train, 64, new BatchOptions { Shuffle = true, Seed = 1 });
    for (int epoch = 0; epoch < epochs; epoch++)
    {
        model.train();
        double sum = 0;
        foreach (ImageBatch batch in batcher.Epoch(epoch))
        {
            using (batch)
            using (NewDisposeScope())
            {
                optimizer.zero_grad();
                Tensor value = loss(model.call(batch.Images), batch, capture!);
                value.backward();
                optimizer.step();
                capture?.Clear();   // the captures hold the step's activations
                sum += value.item<float>() * batch.Count;
            }
        }
        Console.WriteLine($"{name} epoch {epoch + 1}: loss {sum / train.Count:F4}, test accuracy {Accuracy(model, capture):P1}");
    }
}

double Accuracy(nn.Module<Tensor, Tensor> model, FeatureCapture? capture)
{
    model.eval();
    long correct = 0;
    using (no_grad())
    {
        foreach (ImageBatch batch in new ImageBatcher(test, 500).Epoch(0))
        {
            using (batch)
            using (NewDisposeScope())
                correct += model.call(batch.Images).argmax(1).eq(batch.Labels).sum().item<long>();
            capture?.Clear();
        }
    }
    return correct / (double)test.Count;
}
