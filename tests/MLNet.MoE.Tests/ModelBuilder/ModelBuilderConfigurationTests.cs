using System.Reflection;
using System.Text.Json;
using Microsoft.ML.Data;
using MLNet.MoE.Samples.ModelBuilder;

namespace MLNet.MoE.Tests.ModelBuilder;

/// <summary>
/// The Model Builder-shaped samples' <c>.mbconfig</c> files are valid JSON that describe what their code trains: the
/// scenario, the columns of <c>ModelInput</c>, the environment and every training option the trainer receives. The
/// templates' <c>.mbconfig</c> files have the same settings as the samples'.
/// </summary>
public class ModelBuilderConfigurationTests
{
    private static string SampleFile(params string[] parts) => Path.Combine(new[] { TestPaths.RepositoryRoot, "samples", "ModelBuilder" }.Concat(parts).ToArray());

    private static string TemplateFile(params string[] parts) => Path.Combine(new[] { TestPaths.RepositoryRoot, "templates", "MLNet.MoE.Templates", "content" }.Concat(parts).ToArray());

    [Fact]
    public void TheSentimentModelsMbconfigDescribesItsCode()
    {
        string path = SampleFile("SentimentModel", "SentimentModel.mbconfig");
        using var json = JsonDocument.Parse(File.ReadAllText(path));
        JsonElement root = json.RootElement;
        Assert.Equal("TextClassification", root.GetProperty("Scenario").GetString());
        CheckColumns(root, typeof(SentimentModel.ModelInput), new Dictionary<string, string> { ["Text"] = SentimentModel.TextColumnName, ["Label"] = SentimentModel.LabelColumnName });

        var configuration = SentimentModel.LoadConfiguration(path);
        var options = SentimentModel.CreateTrainerOptions(configuration);
        JsonElement training = root.GetProperty("TrainingOption");
        Assert.Equal("MoeTextClassification", training.GetProperty("Trainer").GetString());
        Assert.Equal(training.GetProperty("Epochs").GetInt32(), options.Epochs);
        Assert.Equal(training.GetProperty("BatchSize").GetInt32(), options.BatchSize);
        Assert.Equal(training.GetProperty("MaxLength").GetInt32(), options.MaxLength);
        Assert.Equal(training.GetProperty("LearningRate").GetDouble(), options.LearningRate);
        Assert.Equal(training.GetProperty("WarmupSteps").GetInt32(), options.WarmupSteps);
        Assert.Equal(training.GetProperty("ValidationFraction").GetDouble(), options.ValidationFraction);
        Assert.Equal(training.GetProperty("Seed").GetInt32(), options.Seed);
        Assert.Equal(TokenizerName(training.GetProperty("Tokenizer").GetString()!), options.Tokenizer!.Name);
        Assert.Equal(training.GetProperty("TestFraction").GetDouble(), configuration.TrainingOption.TestFraction);
        Assert.Equal(SentimentModel.LabelColumnName, options.LabelColumnName);
        Assert.Equal(SentimentModel.TextColumnName, options.TextColumnName);
        Assert.Equal(ExpectedDevice(root), options.Device);
        Assert.Equal(root.GetProperty("QuickTrainingOption").GetProperty("Epochs").GetInt32(), SentimentModel.CreateTrainerOptions(configuration.ForQuickRun()).Epochs);

        // The pipeline is built from the same options: its trainer is the MoE text classifier.
        var pipeline = SentimentModel.BuildPipeline(new Microsoft.ML.MLContext(seed: 1), configuration);
        Assert.Contains(Estimators(pipeline), e => e is MLNet.MoE.MoeTextClassificationTrainer trainer && trainer.Options.Epochs == options.Epochs && trainer.Options.MaxLength == options.MaxLength);
    }

    [Fact]
    public void TheScriptureModelsMbconfigDescribesItsCode()
    {
        string path = SampleFile("ScriptureModel", "ScriptureModel.mbconfig");
        using var json = JsonDocument.Parse(File.ReadAllText(path));
        JsonElement root = json.RootElement;
        Assert.Equal("LanguageModeling", root.GetProperty("Scenario").GetString());
        CheckColumns(root, typeof(ScriptureModel.ModelInput), new Dictionary<string, string> { ["Text"] = ScriptureModel.TextColumnName });

        var configuration = ScriptureModel.LoadConfiguration(path);
        var options = ScriptureModel.CreateTrainerOptions(configuration);
        JsonElement training = root.GetProperty("TrainingOption");
        Assert.Equal("LanguageModel", training.GetProperty("Trainer").GetString());
        Assert.Equal(training.GetProperty("MaxSteps").GetInt32(), options.MaxSteps);
        Assert.Equal(training.GetProperty("ContextLength").GetInt32(), options.ContextLength);
        Assert.Equal(training.GetProperty("BatchSize").GetInt32(), options.BatchSize);
        Assert.Equal(training.GetProperty("LearningRate").GetDouble(), options.LearningRate);
        Assert.Equal(training.GetProperty("WarmupSteps").GetInt32(), options.WarmupSteps);
        Assert.Equal(training.GetProperty("Seed").GetInt32(), options.Seed);
        Assert.Equal(training.GetProperty("MaxNewTokens").GetInt32(), options.Generation.MaxNewTokens);
        Assert.Equal(training.GetProperty("Temperature").GetDouble(), options.Generation.Temperature);
        Assert.Equal(training.GetProperty("TopK").GetInt32(), options.Generation.TopK);
        Assert.Equal(TokenizerName(training.GetProperty("Tokenizer").GetString()!), options.Tokenizer!.Name);
        Assert.Equal(training.GetProperty("TestFraction").GetDouble(), configuration.TrainingOption.TestFraction);
        Assert.Equal(ScriptureModel.TextColumnName, options.PromptColumnName);
        Assert.Equal(ExpectedDevice(root), options.Device);
        Assert.Equal(root.GetProperty("QuickTrainingOption").GetProperty("MaxSteps").GetInt32(), ScriptureModel.CreateTrainerOptions(configuration.ForQuickRun()).MaxSteps);

        var pipeline = ScriptureModel.BuildPipeline(new Microsoft.ML.MLContext(seed: 1), configuration);
        Assert.Contains(Estimators(pipeline), e => e is MLNet.MoE.LanguageModelTrainer trainer && trainer.Options.MaxSteps == options.MaxSteps && trainer.Options.ContextLength == options.ContextLength);
    }

    [Theory]
    [InlineData("classifier", "MoeClassifierModel", "SentimentModel")]
    [InlineData("languagemodel", "MoeGenerativeModel", "ScriptureModel")]
    public void EachTemplatesMbconfigHasItsSamplesSettings(string template, string sourceName, string sample)
    {
        using var templateJson = JsonDocument.Parse(File.ReadAllText(TemplateFile(template, sourceName + ".mbconfig")));
        using var sampleJson = JsonDocument.Parse(File.ReadAllText(SampleFile(sample, sample + ".mbconfig")));
        Assert.Equal(sampleJson.RootElement.GetProperty("Scenario").GetString(), templateJson.RootElement.GetProperty("Scenario").GetString());
        foreach (string section in new[] { "DataSource", "Environment", "TrainingOption", "QuickTrainingOption" })
        {
            var templateKeys = templateJson.RootElement.GetProperty(section).EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal);
            var sampleKeys = sampleJson.RootElement.GetProperty(section).EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal);
            Assert.Equal(sampleKeys, templateKeys);
        }
        Assert.Equal(sampleJson.RootElement.GetProperty("TrainingOption").ToString(), templateJson.RootElement.GetProperty("TrainingOption").ToString());
    }

    [Fact]
    public void AnMbconfigWithAnUnknownSettingIsRefusedNamingTheFile()
    {
        string work = TestPaths.NewTempDirectory();
        try
        {
            string path = Path.Combine(work, "edited.mbconfig");
            string text = File.ReadAllText(SampleFile("SentimentModel", "SentimentModel.mbconfig")).Replace("\"Epochs\": 0,", "\"Epochs\": 0, \"Epoch\": 3,");
            File.WriteAllText(path, text);
            var error = Assert.Throws<InvalidDataException>(() => SentimentModel.LoadConfiguration(path));
            Assert.Contains(path, error.Message);
            Assert.Contains("Epoch", error.Message);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>The configuration's columns are ModelInput's: same names (ColumnName), same positions (LoadColumn), same purposes.</summary>
    private static void CheckColumns(JsonElement root, Type modelInput, Dictionary<string, string> columnByPurpose)
    {
        var columns = root.GetProperty("DataSource").GetProperty("ColumnProperties").EnumerateArray().ToList();
        var properties = modelInput.GetProperties(BindingFlags.Public | BindingFlags.Instance);
        Assert.Equal(properties.Length, columns.Count);
        foreach (JsonElement column in columns)
        {
            string name = column.GetProperty("ColumnName").GetString()!;
            Assert.Equal(columnByPurpose[column.GetProperty("ColumnPurpose").GetString()!], name);
            Assert.Equal("String", column.GetProperty("ColumnDataFormat").GetString());
            // ML.NET's own reading of ModelInput: which member feeds the column of this name.
            var member = Assert.Single(SchemaDefinition.Create(modelInput), c => c.ColumnName == name);
            var property = Assert.Single(properties, p => p.Name == member.MemberName);
            Assert.Equal(typeof(string), property.PropertyType);
            var loadColumn = property.GetCustomAttribute<LoadColumnAttribute>();
            if (column.TryGetProperty("Index", out JsonElement index))
            {
                Assert.NotNull(loadColumn);
                Assert.Equal(index.GetInt32(), LoadColumnIndex(loadColumn!));
            }
        }
    }

    private static int LoadColumnIndex(LoadColumnAttribute attribute)
    {
        // LoadColumnAttribute keeps its source ranges internal; the single-index constructor makes one range of that index.
        const BindingFlags flags = BindingFlags.NonPublic | BindingFlags.Public | BindingFlags.Instance;
        object? sources = attribute.GetType().GetField("Sources", flags)?.GetValue(attribute) ?? attribute.GetType().GetProperty("Sources", flags)?.GetValue(attribute);
        var range = Assert.Single(Assert.IsAssignableFrom<System.Collections.IEnumerable>(sources).Cast<Microsoft.ML.Data.TextLoader.Range>());
        Assert.Null(range.Max is int max && max != range.Min ? (int?)max : null);
        return range.Min;
    }

    /// <summary>The library tokenizer's name for the configuration's tokenizer setting.</summary>
    private static string TokenizerName(string setting) => setting switch
    {
        "ByteLevel" => MLNet.MoE.MoeTokenizer.ByteLevel().Name,
        "Gpt2" => MLNet.MoE.MoeTokenizer.Gpt2().Name,
        _ => throw new InvalidOperationException($"unknown tokenizer {setting}"),
    };

    private static ComputeDevice ExpectedDevice(JsonElement root) => root.GetProperty("Environment").GetProperty("Type").GetString() switch
    {
        "LocalCPU" => ComputeDevice.Cpu,
        "LocalGPU" => ComputeDevice.Cuda,
        var other => throw new InvalidOperationException($"unknown environment {other}"),
    };

    /// <summary>The estimators of an ML.NET estimator chain (nested chains flattened).</summary>
    private static IEnumerable<object> Estimators(object estimator)
    {
        var field = estimator.GetType().GetField("_estimators", BindingFlags.NonPublic | BindingFlags.Instance);
        if (field?.GetValue(estimator) is not Array inner)
        {
            yield return estimator;
            yield break;
        }
        foreach (object e in inner)
        {
            foreach (object leaf in Estimators(e)) yield return leaf;
        }
    }
}
