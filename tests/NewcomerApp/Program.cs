// A newcomer's app, written from the README and docs/ only, against the packed MLNet.MoE and MLNet.MoE.Onnx packages.
// Two processes, as an application that trains in one job and scores in another:
//   NewcomerApp train <data folder> <work folder>   trains a language model and a classifier, evaluates, saves the zips,
//                                                   exports both to ONNX, scores with ONNX Runtime, writes expected.json
//   NewcomerApp score <work folder>                 reloads the zips in a new process and checks they compute what the
//                                                   training process recorded
// Prints "key=value" lines; exits 1 with a message when anything disagrees.
using System.Globalization;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNet.MoE;

if (args.Length < 2 || (args[0] == "train" && args.Length < 3))
{
    Console.Error.WriteLine("usage: NewcomerApp train <data folder> <work folder> | score <work folder>");
    return 2;
}
return args[0] switch
{
    "train" => Newcomer.Train(args[1], args[2]),
    "score" => Newcomer.Score(args[1]),
    _ => 2,
};

/// <summary>The two jobs.</summary>
internal static class Newcomer
{
    // A model small enough to train a few steps in seconds on a laptop CPU.
    private static MoeModelConfig TinyModel => new()
    {
        HiddenSize = 32, IntermediateSize = 64, MoeIntermediateSize = 16, NumHiddenLayers = 2, NumAttentionHeads = 2,
        NumKeyValueHeads = 2, KvLoraRank = 16, QLoraRank = 16, QkRopeHeadDim = 8, QkNopeHeadDim = 8, VHeadDim = 8,
        NRoutedExperts = 4, NumExpertsPerTok = 2, NGroup = 2, TopkGroup = 2, MaxPositionEmbeddings = 64,
    };

    private static readonly TextRow Prompt = new() { Text = "In the beginning" };

    private static readonly Review[] Sentences =
    {
        new() { Text = "Great phone, the battery lasts for days." },
        new() { Text = "It broke after one week. Do not buy." },
    };

    public static int Train(string dataFolder, string work)
    {
        Directory.CreateDirectory(work);
        var ml = new MLContext(seed: 1);

        // Language model: tokenize, train, evaluate on held-out verses.
        var verses = File.ReadLines(Path.Combine(dataFolder, "kjv-pentateuch.txt")).Where(l => l.Length > 0).Take(240)
            .Select(l => new TextRow { Text = l }).ToList();
        IDataView text = ml.Data.LoadFromEnumerable(verses);
        var split = ml.Data.TrainTestSplit(text, testFraction: 0.1, seed: 1);
        var pipeline = ml.Transforms.Text.TokenizeForMoe("Tokens", "Text", MoeTokenizer.ByteLevel())
            .Append(ml.MoE().Trainers.LanguageModel(new LanguageModelOptions
            {
                PromptColumnName = "Text",
                Model = TinyModel,
                ContextLength = 32,
                BatchSize = 4,
                MaxSteps = 4,
                WarmupSteps = 1,
                ValidationFraction = 0,   // the data is split already
                Generation = new GenerationOptions { MaxNewTokens = 12 },
            }));
        var model = pipeline.Fit(split.TrainSet);
        LanguageModelTransformer languageModel = model.LastTransformer;
        LanguageModelMetrics metrics = ml.MoE().Evaluate(model.Transform(split.TestSet), textColumnName: "Text");
        Console.WriteLine($"lm.steps={languageModel.TrainingSummary!.Steps}");
        Console.WriteLine($"lm.perplexity={metrics.Perplexity.ToString("R", CultureInfo.InvariantCulture)}");
        Require(double.IsFinite(metrics.Perplexity) && metrics.Perplexity > 1, $"the held-out perplexity is {metrics.Perplexity}");

        ml.MoE().SaveModel(model, split.TrainSet.Schema, Path.Combine(work, "lm.zip"));
        Completion completion = ml.Model.CreatePredictionEngine<TextRow, Completion>(model).Predict(Prompt);
        Console.WriteLine($"lm.generated={Escape(completion.GeneratedText)}");

        // ONNX: export, then score the held-out verses with ONNX Runtime at default settings and compare.
        string export = Path.Combine(work, "lm-onnx");
        ml.MoE().ExportOnnx(languageModel, export);
        using var onnx = ml.MoeOnnx().LoadLanguageModel(export, tokenColumnName: "Text");
        var torchScores = ml.Data.CreateEnumerable<Scored>(model.Transform(split.TestSet), reuseRowObject: false).Select(s => s.Score).ToList();
        var onnxScores = ml.Data.CreateEnumerable<Scored>(onnx.Transform(split.TestSet), reuseRowObject: false).Select(s => s.Score).ToList();
        double worst = torchScores.Zip(onnxScores, (a, b) => Math.Abs(a - b)).Max();
        Console.WriteLine($"onnx.max_score_difference={worst.ToString("E2", CultureInfo.InvariantCulture)}");
        Require(torchScores.Count == onnxScores.Count && worst < 1e-4, $"ONNX Runtime's scores differ from TorchSharp's by {worst:E2}");

        // Text classification on the Amazon review sentences.
        var reviews = File.ReadLines(Path.Combine(dataFolder, "amazon_cells_labelled.txt")).Take(160).Select(line =>
        {
            int tab = line.LastIndexOf('\t');
            return new Review { Text = line[..tab], Label = line[(tab + 1)..].Trim() == "1" };
        }).ToList();
        var reviewData = ml.Data.LoadFromEnumerable(reviews);
        var reviewSplit = ml.Data.TrainTestSplit(reviewData, testFraction: 0.2, seed: 1);
        var classifierPipeline = ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.MulticlassClassification.Trainers.MoeTextClassification(new MoeTextClassificationOptions
            {
                Model = TinyModel,
                MaxLength = 48,
                BatchSize = 16,
                Epochs = 2,
                WarmupSteps = 2,
                ValidationFraction = 0,
            }));
        var classifier = classifierPipeline.Fit(reviewSplit.TrainSet);
        var classification = ml.MulticlassClassification.Evaluate(classifier.Transform(reviewSplit.TestSet));
        Console.WriteLine($"classifier.accuracy={classification.MicroAccuracy.ToString("R", CultureInfo.InvariantCulture)}");
        ml.Model.Save(classifier, reviewSplit.TrainSet.Schema, Path.Combine(work, "classifier.zip"));
        var sentiment = ml.Model.CreatePredictionEngine<Review, Sentiment>(classifier);

        var expected = new Expected
        {
            PromptScore = completion.Score,
            GeneratedText = completion.GeneratedText,
            SentenceScores = Sentences.Select(s => sentiment.Predict(s).Score).ToArray(),
        };
        File.WriteAllText(Path.Combine(work, "expected.json"), JsonSerializer.Serialize(expected));
        Console.WriteLine("train=ok");
        return 0;
    }

    public static int Score(string work)
    {
        var expected = JsonSerializer.Deserialize<Expected>(File.ReadAllText(Path.Combine(work, "expected.json")))!;
        var ml = new MLContext(seed: 1);

        ITransformer lm = ml.Model.Load(Path.Combine(work, "lm.zip"), out _);
        Completion completion = ml.Model.CreatePredictionEngine<TextRow, Completion>(lm).Predict(Prompt);
        Console.WriteLine($"reloaded.generated={Escape(completion.GeneratedText)}");
        Require(completion.Score == expected.PromptScore, $"the reloaded language model scores {completion.Score}, the trained one {expected.PromptScore}");
        Require(completion.GeneratedText == expected.GeneratedText, "the reloaded language model generates other text");

        ITransformer classifier = ml.Model.Load(Path.Combine(work, "classifier.zip"), out _);
        var sentiment = ml.Model.CreatePredictionEngine<Review, Sentiment>(classifier);
        for (int i = 0; i < Sentences.Length; i++)
        {
            float[] score = sentiment.Predict(Sentences[i]).Score;
            Require(score.SequenceEqual(expected.SentenceScores[i]), $"the reloaded classifier scores sentence {i} differently");
        }
        Console.WriteLine("score=ok");
        return 0;
    }

    private static void Require(bool condition, string message)
    {
        if (!condition) throw new InvalidOperationException(message);
    }

    private static string Escape(string text) => text.Replace("\\", "\\\\").Replace("\n", "\\n").Replace("\r", "\\r");
}

/// <summary>One line of text.</summary>
internal sealed class TextRow
{
    public string Text { get; set; } = "";
}

/// <summary>What the language model adds to a row.</summary>
internal sealed class Completion
{
    public float Score { get; set; }

    public string GeneratedText { get; set; } = "";
}

/// <summary>A row's mean next-token cross-entropy.</summary>
internal sealed class Scored
{
    public float Score { get; set; }
}

/// <summary>A review sentence and whether it is positive.</summary>
internal sealed class Review
{
    public string Text { get; set; } = "";

    public bool Label { get; set; }
}

/// <summary>The classifier's output.</summary>
internal sealed class Sentiment
{
    /// <summary>The predicted label's key: 1 for the first label value met in training, 2 for the other.</summary>
    public uint PredictedLabel { get; set; }

    public float[] Score { get; set; } = Array.Empty<float>();
}

/// <summary>What the training process computed, for the scoring process to check.</summary>
internal sealed class Expected
{
    public float PromptScore { get; set; }

    public string GeneratedText { get; set; } = "";

    public float[][] SentenceScores { get; set; } = Array.Empty<float[]>();
}
