using GpuDistill.Data;
using GpuDistill.Experiments;
using GpuDistill.Methods;
using GpuDistill.Tests.Generic;
using GpuDistill.Training;

namespace GpuDistill.Tests.Experiments;

/// <summary>
/// A recipe's <c>data.augmentedCopies</c>: the teacher trains on the images as stored, the students on those and
/// their copies (counted in each run's steps per epoch), and the teacher's outputs cover every copy.
/// </summary>
public sealed class AugmentedCopiesTrainingTests
{
    [Test]
    public void TheStudentsTrainOnTheCopiesAndTheTeacherOnTheImagesAsStored()
    {
        string output = Directory.CreateTempSubdirectory("gpudistill-copies-").FullName;
        try
        {
            const int copies = 2, batch = 64;
            var recipe = new Recipe
            {
                Name = "copies",
                Data = new DataSection { AugmentedCopies = copies },
                Teacher = new TeacherSection { Model = "small-cnn", Training = new ScheduleSection { Epochs = 1, BatchSize = batch } },
                Students = ["mlp"],
                Methods = [MethodSection.BuiltIn(MethodRegistry.Default.Method("none")), MethodSection.BuiltIn(MethodRegistry.Default.Method("kd"))],
                Training = new ScheduleSection { Epochs = 1, BatchSize = batch },
                Seeds = [1],
            };
            var steps = new Dictionary<string, int>();
            var progress = new SynchronousProgress<TrainingProgress>(p => steps[p.Run] = Math.Max(steps.GetValueOrDefault(p.Run), p.Steps));
            var log = new List<string>();
            ExperimentResults results = new Experiment(recipe, output, progress, log.Add).Run(resume: false);

            int images = FashionMnist.LoadEmbedded().Train.Count;
            int Steps(int count) => (count + batch - 1) / batch;
            string[] students = [.. steps.Keys.Where(r => r.StartsWith("none/", StringComparison.Ordinal) || r.StartsWith("kd/", StringComparison.Ordinal))];
            string teacher = steps.Keys.Single(r => !students.Contains(r));
            Assert.Multiple(() =>
            {
                Assert.That(students, Has.Length.EqualTo(2), string.Join(", ", steps.Keys));
                Assert.That(steps[teacher], Is.EqualTo(Steps(images)), $"the teacher's run {teacher} trains on the images as stored");
                foreach (string student in students)
                    Assert.That(steps[student], Is.EqualTo(Steps(images * (copies + 1))), $"{student} trains on the images and {copies} copies of each");
                Assert.That(log, Has.Some.Contains($"{images * (copies + 1)} images").And.Contains("2 shifted and mirrored copies"));
                Assert.That(results.Summary.Select(r => r.Method), Is.EquivalentTo(new[] { "none", "kd" }));
            });
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }
}
