using GpuDistill.Methods;
using GpuDistill.Experiments;

namespace GpuDistill.Tests.Experiments;

public sealed class RecipeLoaderTests
{
    private string directory = null!;

    [SetUp] public void CreateDirectory() => directory = Directory.CreateTempSubdirectory("gpudistill-recipe-").FullName;

    [TearDown] public void DeleteDirectory() => Directory.Delete(directory, recursive: true);

    private string Write(string json)
    {
        string path = Path.Combine(directory, "recipe.json");
        File.WriteAllText(path, json);
        return path;
    }

    private static void AssertFails(string path, params string[] expected)
    {
        var ex = Assert.Throws<RecipeException>(() => RecipeLoader.Load(path));
        Assert.That(ex!.Message, Does.Contain(path));
        foreach (string text in expected) Assert.That(ex.Message, Does.Contain(text), ex.Message);
    }

    [Test]
    public void RoundTripsEveryField()
    {
        var recipe = new Recipe { Name = "rt", Seeds = [4, 5], Students = ["mlp"], Settings = MethodSettingsMap.Defaults.WithTemperature(3) };
        string path = Write(RecipeLoader.ToJson(recipe));
        Recipe loaded = RecipeLoader.Load(path);
        Assert.That(RecipeLoader.ToJson(loaded), Is.EqualTo(RecipeLoader.ToJson(recipe)));
    }

    [Test]
    public void UnknownKeyNamesTheKeyAndLine() =>
        AssertFails(Write("{\n  \"name\": \"x\",\n  \"training\": {\n    \"epochz\": 3\n  }\n}"), "unknown key 'epochz'", "line 4", "$.training");

    [Test]
    public void WrongTypeNamesTheKeyAndLine() =>
        AssertFails(Write("{\n  \"seeds\": [1, \"two\"]\n}"), "line 2", "$.seeds");

    [Test]
    public void MissingFileIsNamed() => AssertFails(Path.Combine(directory, "absent.json"), "not found");

    [Test]
    public void MissingDataDirectoryIsNamed() =>
        AssertFails(Write("{\"data\": {\"directory\": \"/no/such/dir\"}}"), "data.directory", "/no/such/dir");

    [Test]
    public void UnknownStudentIsNamed() => AssertFails(Write("{\"students\": [\"resnet\"]}"), "students", "resnet", "searched shape such as");

    [Test]
    public void ASearchedShapeIsAStudentWithoutRegistration()
    {
        // gpudistill search names its winners by their shape; a recipe may name one in a fresh process.
        Recipe recipe = RecipeLoader.Load(Write("{\"students\": [\"cnn-8x1k3-12x1k5-16x1k3\", \"mlp-40-20\"]}"));
        Assert.That(recipe.Students, Is.EqualTo(new[] { "cnn-8x1k3-12x1k5-16x1k3", "mlp-40-20" }));
        AssertFails(Write("{\"students\": [\"cnn-8x1k4\"]}"), "students", "cnn-8x1k4");
        AssertFails(Write("{\"students\": [\"cnn-8x1k4-8x1k3-8x1k3\"]}"), "students", "cnn-8x1k4-8x1k3-8x1k3");
    }

    [Test]
    public void BadLossSpecIsNamed() =>
        AssertFails(Write("{\"methods\": [{\"name\": \"x\", \"loss\": \"kd:abc\"}]}"), "methods[x].loss", "abc");

    [Test]
    public void UnknownTermIsNamed() =>
        AssertFails(Write("{\"methods\": [{\"name\": \"x\", \"loss\": \"fitnet:1\"}]}"), "methods[x].loss", "fitnet");

    [Test]
    public void BadScheduleValueIsNamed() => AssertFails(Write("{\"training\": {\"epochs\": 0}}"), "training.epochs");

    [TestCase(-1)]
    [TestCase(65)]
    public void AugmentedCopiesOutOfRangeAreNamed(int copies) =>
        AssertFails(Write($"{{\"data\": {{\"augmentedCopies\": {copies}}}}}"), "data.augmentedCopies", "0 (none) to 64");

    [Test]
    public void AugmentedCopiesWithLiveAugmentationAreRefused() =>
        AssertFails(Write("{\"data\": {\"augmentedCopies\": 2, \"augment\": true}}"), "data.augmentedCopies", "choose one");

    [Test]
    public void RowsOnValidationWithoutASplitAreRefused() =>
        AssertFails(Write("{\"data\": {\"rowsOnValidation\": true}}"), "data.rowsOnValidation", "validationPerClass");

    [Test]
    public void BadJsonIsReportedWithLine() => AssertFails(Write("{\n\"name\": \"x\",,\n}"), "line 2");
}
