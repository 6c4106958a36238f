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
        TextClassificationConfiguration configuration = LoadConfiguration(MBConfigPath);
        if (quick) configuration = configuration.ForQuickRun();
        MLContext mlContext = configuration.CreateMLContext();
        string dataPath = TabularDataFile.ResolvePath(inputDataFilePath ?? configuration.DataSource.FilePath);
        IDataView data = LoadIDataViewFromFile(mlContext, dataPath, configuration.DataSource);
        if (quick) data = configuration.QuickTrainingOption.TakeRows(mlContext, data);
        TrainingDataChecks.RequireTwoClassesOrMore(data, LabelColumnName, dataPath);
        var split = mlContext.Data.TrainTestSplit(data, configuration.TrainingOption.TestFraction, seed: configuration.TrainingOption.Seed);
        ITransformer model = RetrainModel(mlContext, split.TrainSet, configuration);
        MulticlassClassificationMetrics metrics = Evaluate(mlContext, model, split.TestSet);
        SaveModel(mlContext, model, data, outputModelPath);
        PredictEngine.OnModelSaved(outputModelPath);
        return metrics;
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
            Seed = option.Seed,
            Device = configuration.Environment.Device,
            LogEverySteps = 1000,
        };
    }
}
