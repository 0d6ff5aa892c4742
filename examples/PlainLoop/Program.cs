// A plain TorchSharp training loop made a distillation loop with one call: the student's loss is
// GpuDistill.Losses.SoftmaxKL (Hinton KD plus cross-entropy, fused) instead of cross_entropy. The models, the optimiser
// and the loop are TorchSharp's own. Run: dotnet run --project examples/PlainLoop [-- --quick]
using GpuDistill;
using GpuDistill.Data;
using TorchSharp;
using static TorchSharp.torch;

bool quick = args.Contains("--quick");
int epochs = quick ? 2 : 5;
manual_seed(1);
(ImageDataset train, ImageDataset test) = FashionMnist.LoadEmbedded();   // 6,000 / 1,000 Fashion-MNIST images
if (quick) train = train.StratifiedSample(150, 1, "quick");

var teacher = nn.Sequential(("flatten", nn.Flatten()), ("fc1", nn.Linear(784, 256)), ("relu", nn.ReLU()), ("fc2", nn.Linear(256, 10)));
var student = nn.Sequential(("flatten", nn.Flatten()), ("fc1", nn.Linear(784, 16)), ("relu", nn.ReLU()), ("fc2", nn.Linear(16, 10)));

// 1. The teacher, the usual way.
Train("teacher", teacher, (logits, batch) => nn.functional.cross_entropy(logits, batch.Labels));

// 2. The student, the same loop: only the loss changes. The teacher runs frozen, without gradient.
teacher.eval();
Train("student", student, (logits, batch) =>
{
    Tensor teacherLogits;
    using (no_grad()) teacherLogits = teacher.call(batch.Images);
    return Losses.SoftmaxKL(logits, teacherLogits, temperature: 4, batch.Labels, softWeight: 0.9, hardWeight: 0.1);
});

void Train(string name, nn.Module<Tensor, Tensor> model, Func<Tensor, ImageBatch, Tensor> loss)
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
                Tensor value = loss(model.call(batch.Images), batch);
                value.backward();
                optimizer.step();
                sum += value.item<float>() * batch.Count;
            }
        }
        Console.WriteLine($"{name} epoch {epoch + 1}: loss {sum / train.Count:F4}, test accuracy {Accuracy(model):P1}");
    }
}

double Accuracy(nn.Module<Tensor, Tensor> model)
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
        }
    }
    return correct / (double)test.Count;
}
