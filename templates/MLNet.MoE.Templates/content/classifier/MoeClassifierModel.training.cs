using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNet.MoE.Catalog;
using MLNet.MoE.Runtime;
using MLNet.MoE.Tokenization;

namespace MoeClassifierModel;

public static partial class MoeClassifierModel
{
    /// <summary>
    /// The training configuration (<c>MoeClassifierModel.mbconfig</c>, copied beside the program): scenario, data source,
    /// columns, environment and training options. <see cref="Train"/> reads it, so editing it and training again retrains
    /// the model with the new settings.
    /// </summary>
    public static string MBConfigPath { get; set; } = Path.Combine(AppContext.BaseDirectory, "MoeClassifierModel.mbconfig");

    /// <summary>
    /// Trains the model on <paramref name="inputDataFilePath"/> (default: the <c>.mbconfig</c>'s data file) less a held-out
    /// <c>TestFraction</c>, evaluates it on the held-out rows and saves it to <paramref name="outputModelPath"/> (atomically: a
    /// failed run leaves no model file behind).
    /// </summary>
    /// <param name="outputModelPath">The <c>.mlnet</c> file to write.</param>
    /// <param name="inputDataFilePath">The data; a relative path is looked for in the current directory, then beside the program.</param>
    /// <param name="quick">Train on the configuration's <c>QuickTrainingOption</c> (fewer rows and epochs), as CI does.</param>
    /// <returns>The metrics on the held-out rows.</returns>
    /// <exception cref="FileNotFoundException">The data file or the <c>.mbconfig</c> does not exist.</exception>
    /// <exception cref="InvalidDataException">A column is not in the data, or the label column holds fewer than two classes.</exception>
    public static MulticlassClassificationMetrics Train(string outputModelPath, string? inputDataFilePath = null, bool quick = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(outputModelPath);
        TrainingConfiguration configuration = LoadConfiguration(MBConfigPath);
        if (quick) configuration = configuration.ForQuickRun();
        var mlContext = CreateMLContext(configuration);
        string dataPath = ResolveDataFile(inputDataFilePath ?? configuration.DataSource.FilePath);
        IDataView data = LoadIDataViewFromFile(mlContext, dataPath, configuration.DataSource);
        if (configuration.QuickTrainingOption.MaxRows > 0 && quick) data = mlContext.Data.TakeRows(data, configuration.QuickTrainingOption.MaxRows);
        CheckLabels(mlContext, data, dataPath);
        var split = mlContext.Data.TrainTestSplit(data, configuration.TrainingOption.TestFraction, seed: configuration.TrainingOption.Seed);
        ITransformer model = RetrainModel(mlContext, split.TrainSet, configuration);
        MulticlassClassificationMetrics metrics = Evaluate(mlContext, model, split.TestSet);
        SaveModel(mlContext, model, data, outputModelPath);
        if (Path.GetFullPath(outputModelPath) == MLNetModelPath) ResetPredictEngine();
        return metrics;
    }

    /// <summary>Loads the data file with the configuration's delimiter, header and columns (found by name in the header, or by index without one).</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">A configured column is not in the file's header.</exception>
    public static IDataView LoadIDataViewFromFile(MLContext mlContext, string inputDataFilePath, DataSourceConfiguration dataSource)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(dataSource);
        if (!File.Exists(inputDataFilePath)) throw new FileNotFoundException($"Data file '{inputDataFilePath}' does not exist.", inputDataFilePath);
        char separator = dataSource.Separator;
        string[]? header = null;
        if (dataSource.HasHeader)
        {
            string firstLine = File.ReadLines(inputDataFilePath).FirstOrDefault()
                ?? throw new InvalidDataException($"Data file '{inputDataFilePath}' is empty: it has no header line.");
            header = firstLine.Split(separator).Select(name => dataSource.AllowQuoting ? name.Trim().Trim('"') : name.Trim()).ToArray();
        }
        var columns = dataSource.ColumnProperties.Select(column =>
        {
            int index;
            if (header != null)
            {
                index = Array.IndexOf(header, column.ColumnName);
                if (index < 0)
                    throw new InvalidDataException($"Column '{column.ColumnName}' is not in the header of '{inputDataFilePath}' (its columns: {string.Join(", ", header.Select(h => "'" + h + "'"))}).");
            }
            else
            {
                index = column.Index ?? throw new InvalidDataException($"Column '{column.ColumnName}' has no Index in '{MBConfigPath}', and the data has no header to find it by name.");
            }
            return new TextLoader.Column(column.ColumnName, DataKind.String, index);
        }).ToArray();
        return mlContext.Data.CreateTextLoader(new TextLoader.Options
        {
            Columns = columns,
            Separators = new[] { separator },
            HasHeader = dataSource.HasHeader,
            AllowQuoting = dataSource.AllowQuoting,
        }).Load(inputDataFilePath);
    }

    /// <summary>Saves the model and the data's schema as an ML.NET model zip, atomically (temporary file, then rename).</summary>
    public static void SaveModel(MLContext mlContext, ITransformer model, IDataView data, string modelSavePath)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(data);
        string fullPath = Path.GetFullPath(modelSavePath);
        Directory.CreateDirectory(Path.GetDirectoryName(fullPath)!);
        mlContext.MoE().SaveModel(model, data.Schema, fullPath);
    }

    /// <summary>Fits <see cref="BuildPipeline"/> on <paramref name="trainData"/>.</summary>
    public static ITransformer RetrainModel(MLContext mlContext, IDataView trainData, TrainingConfiguration? configuration = null)
    {
        var pipeline = BuildPipeline(mlContext, configuration);
        return pipeline.Fit(trainData);
    }

    /// <summary>
    /// The training pipeline: the label's values become keys, the Mixture-of-Experts text classifier trains on the text,
    /// and the predicted key becomes the label's value again.
    /// </summary>
    /// <param name="mlContext">The context.</param>
    /// <param name="configuration">The training configuration; default: the one at <see cref="MBConfigPath"/>.</param>
    public static IEstimator<ITransformer> BuildPipeline(MLContext mlContext, TrainingConfiguration? configuration = null)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        configuration ??= LoadConfiguration(MBConfigPath);
        var pipeline = mlContext.Transforms.Conversion.MapValueToKey(outputColumnName: LabelColumnName, inputColumnName: LabelColumnName)
            .Append(mlContext.MulticlassClassification.Trainers.MoeTextClassification(CreateTrainerOptions(configuration)))
            .Append(mlContext.Transforms.Conversion.MapKeyToValue(outputColumnName: @"PredictedLabel", inputColumnName: @"PredictedLabel"));
        return pipeline;
    }

    /// <summary>The classifier's options as the configuration's <c>TrainingOption</c> and <c>Environment</c> set them.</summary>
    public static MoeTextClassificationOptions CreateTrainerOptions(TrainingConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var option = configuration.TrainingOption;
        return new MoeTextClassificationOptions
        {
            LabelColumnName = LabelColumnName,
            TextColumnName = TextColumnName,
            Tokenizer = option.Tokenizer switch
            {
                "ByteLevel" => MoeTokenizer.ByteLevel(),
                "Gpt2" => MoeTokenizer.Gpt2(),
                var other => throw new InvalidDataException($"TrainingOption.Tokenizer in '{MBConfigPath}' must be ByteLevel or Gpt2, not '{other}'."),
            },
            Epochs = option.Epochs,
            BatchSize = option.BatchSize,
            MaxLength = option.MaxLength,
            LearningRate = option.LearningRate,
            WarmupSteps = option.WarmupSteps,
            ValidationFraction = option.ValidationFraction,
            Seed = option.Seed,
            Device = configuration.Environment.Device,
            LogEverySteps = 1000,
        };
    }

    /// <summary>Reads and checks a training configuration (<c>.mbconfig</c>).</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">It is not valid JSON, lacks a setting, has an unknown one, or does not describe this model's scenario and columns.</exception>
    public static TrainingConfiguration LoadConfiguration(string mbconfigPath)
    {
        if (!File.Exists(mbconfigPath)) throw new FileNotFoundException($"Training configuration '{mbconfigPath}' does not exist.", mbconfigPath);
        TrainingConfiguration configuration;
        try
        {
            configuration = JsonSerializer.Deserialize<TrainingConfiguration>(File.ReadAllText(mbconfigPath), ConfigurationJson)
                ?? throw new InvalidDataException($"Training configuration '{mbconfigPath}' is empty.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"Training configuration '{mbconfigPath}' is not valid: {e.Message}", e);
        }
        void Require(bool condition, string message)
        {
            if (!condition) throw new InvalidDataException($"Training configuration '{mbconfigPath}': {message}");
        }
        Require(configuration.Scenario == "TextClassification", $"Scenario must be TextClassification, not '{configuration.Scenario}'.");
        Require(configuration.TrainingOption.Trainer == "MoeTextClassification", $"TrainingOption.Trainer must be MoeTextClassification, not '{configuration.TrainingOption.Trainer}'.");
        Require(configuration.DataSource.Delimiter.Length == 1, $"DataSource.Delimiter must be one character, not '{configuration.DataSource.Delimiter}'.");
        var columns = configuration.DataSource.ColumnProperties;
        Require(columns.Count(c => c.ColumnPurpose == "Text" && c.ColumnName == TextColumnName) == 1 && columns.Count(c => c.ColumnPurpose == "Label" && c.ColumnName == LabelColumnName) == 1 && columns.Length == 2,
            $"ColumnProperties must name the text column '{TextColumnName}' (ColumnPurpose Text) and the label column '{LabelColumnName}' (ColumnPurpose Label), as ModelInput does.");
        Require(columns.All(c => c.ColumnDataFormat == "String"), "every column's ColumnDataFormat must be String.");
        Require(configuration.Environment.Type is "LocalCPU" or "LocalGPU", $"Environment.Type must be LocalCPU or LocalGPU, not '{configuration.Environment.Type}'.");
        Require(configuration.TrainingOption.TestFraction is > 0 and < 1, $"TrainingOption.TestFraction must be between 0 and 1 (exclusive), not {configuration.TrainingOption.TestFraction}.");
        Require(configuration.QuickTrainingOption.MaxRows >= 0 && configuration.QuickTrainingOption.Epochs >= 1, "QuickTrainingOption needs MaxRows ≥ 0 and Epochs ≥ 1.");
        return configuration;
    }

    private static readonly JsonSerializerOptions ConfigurationJson = new()
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };

    /// <summary>A context seeded as the configuration says, on the GPU when its environment is LocalGPU.</summary>
    private static MLContext CreateMLContext(TrainingConfiguration configuration) =>
        new(seed: configuration.TrainingOption.Seed) { GpuDeviceId = configuration.Environment.Device == ComputeDevice.Cuda ? 0 : null, FallbackToCpu = false };

    /// <summary>A relative path is looked for in the current directory, then beside the program.</summary>
    private static string ResolveDataFile(string path)
    {
        if (Path.IsPathRooted(path) || File.Exists(path)) return Path.GetFullPath(path);
        string besideProgram = Path.Combine(AppContext.BaseDirectory, path);
        if (File.Exists(besideProgram)) return besideProgram;
        throw new FileNotFoundException($"Data file '{path}' does not exist (looked in the current directory {Environment.CurrentDirectory} and beside the program in {AppContext.BaseDirectory}).", path);
    }

    /// <summary>A classifier needs rows of at least two classes: checked before training, naming the column and the file.</summary>
    private static void CheckLabels(MLContext mlContext, IDataView data, string dataPath)
    {
        var labels = new HashSet<string>(StringComparer.Ordinal);
        long rows = 0;
        using (var cursor = data.GetRowCursor(new[] { data.Schema[LabelColumnName] }))
        {
            var getter = cursor.GetGetter<ReadOnlyMemory<char>>(data.Schema[LabelColumnName]);
            ReadOnlyMemory<char> value = default;
            while (cursor.MoveNext())
            {
                getter(ref value);
                rows++;
                if (!value.IsEmpty) labels.Add(value.ToString());
            }
        }
        if (rows == 0) throw new InvalidDataException($"Data file '{dataPath}' has no rows.");
        if (labels.Count < 2)
            throw new InvalidDataException($"Label column '{LabelColumnName}' of '{dataPath}' holds {(labels.Count == 0 ? "no class" : $"one class ('{labels.Single()}')")} in {rows} rows: a classifier needs rows of at least two classes.");
    }

    /// <summary>The content of a <c>.mbconfig</c> file.</summary>
    public sealed record TrainingConfiguration
    {
        /// <summary>The file format's version (1).</summary>
        public required int Version { get; init; }

        /// <summary>TrainingConfig.</summary>
        public required string Type { get; init; }

        /// <summary>The task: TextClassification.</summary>
        public required string Scenario { get; init; }

        /// <summary>The data file and its columns.</summary>
        public required DataSourceConfiguration DataSource { get; init; }

        /// <summary>Where to train: LocalCPU or LocalGPU.</summary>
        public required EnvironmentConfiguration Environment { get; init; }

        /// <summary>The trainer and its options.</summary>
        public required ClassificationTrainingOption TrainingOption { get; init; }

        /// <summary>The reduced run (fewer rows and epochs) that CI trains.</summary>
        public required QuickTrainingOption QuickTrainingOption { get; init; }

        /// <summary>This configuration with the quick run's epochs.</summary>
        public TrainingConfiguration ForQuickRun() => this with { TrainingOption = TrainingOption with { Epochs = QuickTrainingOption.Epochs } };
    }

    /// <summary>The data file: a delimited text file, with or without a header line.</summary>
    public sealed record DataSourceConfiguration
    {
        /// <summary>TabularFile.</summary>
        public required string Type { get; init; }

        /// <summary>The data file; a relative path is looked for in the current directory, then beside the program.</summary>
        public required string FilePath { get; init; }

        /// <summary>The column separator, one character.</summary>
        public required string Delimiter { get; init; }

        /// <summary>Whether the first line names the columns (then they are found by name).</summary>
        public required bool HasHeader { get; init; }

        /// <summary>Whether fields may be quoted.</summary>
        public required bool AllowQuoting { get; init; }

        /// <summary>The columns the model reads.</summary>
        public required ColumnProperty[] ColumnProperties { get; init; }

        /// <summary>The delimiter as a character.</summary>
        [JsonIgnore]
        public char Separator => Delimiter[0];
    }

    /// <summary>One column of the data.</summary>
    public sealed record ColumnProperty
    {
        /// <summary>Its name in the header (or in the model, without a header).</summary>
        public required string ColumnName { get; init; }

        /// <summary>Text or Label.</summary>
        public required string ColumnPurpose { get; init; }

        /// <summary>String.</summary>
        public required string ColumnDataFormat { get; init; }

        /// <summary>Its zero-based position, for data without a header.</summary>
        public int? Index { get; init; }
    }

    /// <summary>Where the model trains.</summary>
    public sealed record EnvironmentConfiguration
    {
        /// <summary>LocalCPU or LocalGPU.</summary>
        public required string Type { get; init; }

        /// <summary>The library's device for <see cref="Type"/>.</summary>
        [JsonIgnore]
        public ComputeDevice Device => Type == "LocalGPU" ? ComputeDevice.Cuda : ComputeDevice.Cpu;
    }

    /// <summary>The classifier's options (see <c>MoeTextClassificationOptions</c>) and the held-out fraction.</summary>
    public sealed record ClassificationTrainingOption
    {
        /// <summary>MoeTextClassification.</summary>
        public required string Trainer { get; init; }

        /// <summary>ByteLevel or Gpt2.</summary>
        public required string Tokenizer { get; init; }

        /// <summary>Passes over the training rows.</summary>
        public required int Epochs { get; init; }

        /// <summary>Rows per step.</summary>
        public required int BatchSize { get; init; }

        /// <summary>Tokens per row, end-of-text tokens included.</summary>
        public required int MaxLength { get; init; }

        /// <summary>Peak learning rate.</summary>
        public required double LearningRate { get; init; }

        /// <summary>Learning-rate warm-up steps.</summary>
        public required int WarmupSteps { get; init; }

        /// <summary>Share of the training rows held out for early stopping (0: none).</summary>
        public required double ValidationFraction { get; init; }

        /// <summary>Share of the data held out for the metrics that <see cref="Train"/> returns.</summary>
        public required double TestFraction { get; init; }

        /// <summary>Random seed of the split, the weights and the batch order.</summary>
        public required int Seed { get; init; }
    }

    /// <summary>The reduced run.</summary>
    public sealed record QuickTrainingOption
    {
        /// <summary>The first rows of the data that it reads (0: all).</summary>
        public required int MaxRows { get; init; }

        /// <summary>Its passes over the training rows.</summary>
        public required int Epochs { get; init; }
    }
}
