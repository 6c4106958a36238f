using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNet.MoE;

namespace MoeModelNamespace;

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
    /// <c>TestFraction</c>, evaluates it on the held-out rows beside ML.NET's own text classifier (<c>FeaturizeText</c> +
    /// <c>LbfgsMaximumEntropy</c>) trained on the same rows, and saves it to <paramref name="outputModelPath"/> (atomically: a
    /// failed run leaves no model file behind). Training prints a progress line (epoch, step, loss, rows per second, time
    /// left) to the console: redrawn in place on a terminal, one line per report when the output is redirected.
    /// </summary>
    /// <param name="outputModelPath">The <c>.mlnet</c> file to write.</param>
    /// <param name="inputDataFilePath">The data; a relative path is looked for in the current directory, then beside the program.</param>
    /// <param name="quick">Train on the configuration's <c>QuickTrainingOption</c> (at most <c>MaxRows</c> rows drawn from the whole file, stratified by label, and fewer epochs), as CI does.</param>
    /// <returns>The metrics of the model and of the baseline on the held-out rows, and their training times.</returns>
    /// <exception cref="FileNotFoundException">The data file or the <c>.mbconfig</c> does not exist.</exception>
    /// <exception cref="InvalidDataException">A column is not in the data, the label column holds fewer than two classes, or the data has too few rows for the settings.</exception>
    public static TrainingResult Train(string outputModelPath, string? inputDataFilePath = null, bool quick = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(outputModelPath);
        TextClassificationConfiguration configuration = LoadConfiguration(MBConfigPath);
        if (quick) configuration = configuration.ForQuickRun();
        MLContext mlContext = configuration.CreateMLContext();
        string dataPath = TabularDataFile.ResolvePath(inputDataFilePath ?? configuration.DataSource.FilePath);
        IDataView data = LoadIDataViewFromFile(mlContext, dataPath, configuration.DataSource);
        var option = configuration.TrainingOption;
        if (quick) data = configuration.QuickTrainingOption.SampleRows(mlContext, data, TextColumnName, LabelColumnName, option.Seed);
        var (rows, classes) = TrainingDataChecks.RequireTwoClassesOrMore(data, LabelColumnName, dataPath);
        TrainingDataChecks.RequireEnoughRows(rows, classes, option.TestFraction, option.ValidationFraction, dataPath);
        var split = mlContext.Data.TrainTestSplit(data, option.TestFraction, seed: option.Seed);
        var clock = Stopwatch.StartNew();
        ITransformer model = RetrainModel(mlContext, split.TrainSet, configuration);
        TimeSpan trainingTime = clock.Elapsed;
        MulticlassClassificationMetrics metrics = Evaluate(mlContext, model, split.TestSet);
        clock.Restart();
        Console.WriteLine("Training the baseline (ML.NET's FeaturizeText + LbfgsMaximumEntropy) on the same rows...");
        ITransformer baseline = BuildBaselinePipeline(mlContext).Fit(split.TrainSet);
        TimeSpan baselineTime = clock.Elapsed;
        MulticlassClassificationMetrics baselineMetrics = mlContext.MulticlassClassification.Evaluate(baseline.Transform(split.TestSet), labelColumnName: LabelColumnName);
        SaveModel(mlContext, model, data, outputModelPath);
        PredictEngine.OnModelSaved(outputModelPath);
        return new TrainingResult(metrics, baselineMetrics, trainingTime, baselineTime);
    }

    /// <summary>What <see cref="Train"/> measured on the held-out rows.</summary>
    /// <param name="Metrics">The model's metrics.</param>
    /// <param name="BaselineMetrics">The metrics of ML.NET's <c>FeaturizeText</c> + <c>LbfgsMaximumEntropy</c> trained on the same rows.</param>
    /// <param name="TrainingTime">The model's training time.</param>
    /// <param name="BaselineTrainingTime">The baseline's training time.</param>
    public sealed record TrainingResult(MulticlassClassificationMetrics Metrics, MulticlassClassificationMetrics BaselineMetrics, TimeSpan TrainingTime, TimeSpan BaselineTrainingTime);

    /// <summary>ML.NET's own text classifier at its defaults, the baseline <see cref="Train"/> reports beside the model.</summary>
    public static IEstimator<ITransformer> BuildBaselinePipeline(MLContext mlContext)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        return mlContext.Transforms.Conversion.MapValueToKey(outputColumnName: LabelColumnName, inputColumnName: LabelColumnName)
            .Append(mlContext.Transforms.Text.FeaturizeText("Features", TextColumnName))
            .Append(mlContext.MulticlassClassification.Trainers.LbfgsMaximumEntropy(labelColumnName: LabelColumnName));
    }

    /// <summary>Reads and checks the training configuration (<c>.mbconfig</c>): this model's scenario, trainer and columns.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">It is not valid JSON, lacks a setting, has an unknown one, or does not describe this model's scenario and columns.</exception>
    public static TextClassificationConfiguration LoadConfiguration(string mbconfigPath) =>
        TextClassificationConfiguration.Load(mbconfigPath, TextColumnName, LabelColumnName);

    /// <summary>Loads the data file with the configuration's delimiter, header and columns (found by name in the header, or by index without one).</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">A configured column is not in the file's header.</exception>
    public static IDataView LoadIDataViewFromFile(MLContext mlContext, string inputDataFilePath, DataSourceConfiguration dataSource) =>
        TabularDataFile.Load(mlContext, inputDataFilePath, dataSource);

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
    public static ITransformer RetrainModel(MLContext mlContext, IDataView trainData, TextClassificationConfiguration? configuration = null)
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
    public static IEstimator<ITransformer> BuildPipeline(MLContext mlContext, TextClassificationConfiguration? configuration = null)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        configuration ??= LoadConfiguration(MBConfigPath);
        var pipeline = mlContext.Transforms.Conversion.MapValueToKey(outputColumnName: LabelColumnName, inputColumnName: LabelColumnName)
            .Append(mlContext.MulticlassClassification.Trainers.MoeTextClassification(CreateTrainerOptions(configuration)))
            .Append(mlContext.Transforms.Conversion.MapKeyToValue(outputColumnName: @"PredictedLabel", inputColumnName: @"PredictedLabel"));
        return pipeline;
    }

    /// <summary>The classifier's options as the configuration's <c>TrainingOption</c> and <c>Environment</c> set them.</summary>
    public static MoeTextClassificationOptions CreateTrainerOptions(TextClassificationConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var option = configuration.TrainingOption;
        return new MoeTextClassificationOptions
        {
            LabelColumnName = LabelColumnName,
            TextColumnName = TextColumnName,
            Tokenizer = option.CreateTokenizer(),
            Epochs = option.Epochs,
            BatchSize = option.BatchSize,
            MaxLength = option.MaxLength,
            LearningRate = option.LearningRate,
            WarmupSteps = option.WarmupSteps,
            ValidationFraction = option.ValidationFraction,
            NgramBuckets = option.NgramBuckets,
            Seed = option.Seed,
            Device = configuration.Environment.Device,
            LogEverySteps = 20,
            Progress = new TrainingProgressLine(),
        };
    }

    /// <summary>
    /// Writes a progress line per report (epoch, step, loss, rows per second, time left): redrawn in place when the output
    /// is a terminal, one line per report when it is redirected (a log file, CI).
    /// </summary>
    private sealed class TrainingProgressLine : IProgress<TextClassificationProgress>
    {
        private readonly bool interactive = !Console.IsOutputRedirected;

        public void Report(TextClassificationProgress value)
        {
            double secondsPerStep = value.Elapsed.TotalSeconds / Math.Max(1, value.Step);
            var left = TimeSpan.FromSeconds(Math.Round(secondsPerStep * Math.Max(0, value.TotalSteps - value.Step)));
            string line = string.Format(CultureInfo.InvariantCulture, "epoch {0}  step {1}/{2}  loss {3:F4}  {4:N0} rows/s  ETA {5:hh\\:mm\\:ss}",
                value.Epoch, value.Step, value.TotalSteps, value.Loss, value.RowsPerSecond, left);
            if (value.ValidationLoss is double loss) line += string.Format(CultureInfo.InvariantCulture, "  validation loss {0:F4} accuracy {1:P1}", loss, value.ValidationAccuracy ?? double.NaN);
            if (!interactive) Console.WriteLine(line);
            else if (value.Step == value.TotalSteps || value.ValidationLoss != null) Console.WriteLine("\r" + line.PadRight(100));
            else Console.Write("\r" + line.PadRight(100));
        }
    }
}
