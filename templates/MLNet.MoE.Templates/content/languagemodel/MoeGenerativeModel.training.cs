using Microsoft.ML;
using MLNet.MoE;

namespace MoeModelNamespace;

public static partial class MoeGenerativeModel
{
    /// <summary>
    /// The training configuration (<c>MoeGenerativeModel.mbconfig</c>, copied beside the program): scenario, data source,
    /// columns, environment and training options. <see cref="Train"/> reads it, so editing it and training again retrains
    /// the model with the new settings.
    /// </summary>
    public static string MBConfigPath { get; set; } = Path.Combine(AppContext.BaseDirectory, "MoeGenerativeModel.mbconfig");

    /// <summary>
    /// Trains the model on <paramref name="inputDataFilePath"/> (default: the <c>.mbconfig</c>'s data file) less a held-out
    /// <c>TestFraction</c>, evaluates it on the held-out rows and saves it to <paramref name="outputModelPath"/> (atomically: a
    /// failed run leaves no model file behind).
    /// </summary>
    /// <param name="outputModelPath">The <c>.mlnet</c> file to write.</param>
    /// <param name="inputDataFilePath">The data; a relative path is looked for in the current directory, then beside the program.</param>
    /// <param name="quick">Train on the configuration's <c>QuickTrainingOption</c> (fewer rows and steps), as CI does.</param>
    /// <returns>The metrics on the held-out rows.</returns>
    /// <exception cref="FileNotFoundException">The data file or the <c>.mbconfig</c> does not exist.</exception>
    /// <exception cref="InvalidDataException">The text column is not in the data, or the data holds no text.</exception>
    public static LanguageModelMetrics Train(string outputModelPath, string? inputDataFilePath = null, bool quick = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(outputModelPath);
        LanguageModelingConfiguration configuration = LoadConfiguration(MBConfigPath);
        if (quick) configuration = configuration.ForQuickRun();
        MLContext mlContext = configuration.CreateMLContext();
        string dataPath = TabularDataFile.ResolvePath(inputDataFilePath ?? configuration.DataSource.FilePath);
        IDataView data = LoadIDataViewFromFile(mlContext, dataPath, configuration.DataSource);
        if (quick) data = configuration.QuickTrainingOption.TakeRows(mlContext, data);
        TrainingDataChecks.RequireText(data, TextColumnName, dataPath);
        var split = mlContext.Data.TrainTestSplit(data, configuration.TrainingOption.TestFraction, seed: configuration.TrainingOption.Seed);
        ITransformer model = RetrainModel(mlContext, split.TrainSet, configuration);
        LanguageModelMetrics metrics = Evaluate(mlContext, model, split.TestSet);
        SaveModel(mlContext, model, data, outputModelPath);
        PredictEngine.OnModelSaved(outputModelPath);
        return metrics;
    }

    /// <summary>Reads and checks the training configuration (<c>.mbconfig</c>): this model's scenario, trainer and column.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">It is not valid JSON, lacks a setting, has an unknown one, or does not describe this model's scenario and column.</exception>
    public static LanguageModelingConfiguration LoadConfiguration(string mbconfigPath) =>
        LanguageModelingConfiguration.Load(mbconfigPath, TextColumnName);

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
    public static ITransformer RetrainModel(MLContext mlContext, IDataView trainData, LanguageModelingConfiguration? configuration = null)
    {
        var pipeline = BuildPipeline(mlContext, configuration);
        return pipeline.Fit(trainData);
    }

    /// <summary>
    /// The training pipeline: the text becomes token ids (<c>TokenizeForMoe</c>), and the Mixture-of-Experts language
    /// model trains on them; the trained model scores each row's text and continues it (<c>GeneratedText</c>).
    /// </summary>
    /// <param name="mlContext">The context.</param>
    /// <param name="configuration">The training configuration; default: the one at <see cref="MBConfigPath"/>.</param>
    public static IEstimator<ITransformer> BuildPipeline(MLContext mlContext, LanguageModelingConfiguration? configuration = null)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        configuration ??= LoadConfiguration(MBConfigPath);
        var options = CreateTrainerOptions(configuration);
        var pipeline = mlContext.Transforms.Text.TokenizeForMoe(outputColumnName: options.TokenColumnName, inputColumnName: TextColumnName, tokenizer: options.Tokenizer)
            .Append(mlContext.MoE().Trainers.LanguageModel(options));
        return pipeline;
    }

    /// <summary>The language model's options as the configuration's <c>TrainingOption</c> and <c>Environment</c> set them.</summary>
    public static LanguageModelOptions CreateTrainerOptions(LanguageModelingConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var option = configuration.TrainingOption;
        return new LanguageModelOptions
        {
            TokenColumnName = @"Tokens",
            PromptColumnName = TextColumnName,
            Tokenizer = option.CreateTokenizer(),
            MaxSteps = option.MaxSteps,
            ContextLength = option.ContextLength,
            BatchSize = option.BatchSize,
            LearningRate = option.LearningRate,
            WarmupSteps = option.WarmupSteps,
            ValidationFraction = 0,   // Train holds out TestFraction itself
            Seed = option.Seed,
            Device = configuration.Environment.Device,
            LogEverySteps = Math.Max(1, option.MaxSteps / 5),
            Generation = new GenerationOptions { MaxNewTokens = option.MaxNewTokens, Temperature = option.Temperature, TopK = option.TopK, Seed = option.Seed },
        };
    }
}
