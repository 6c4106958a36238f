using Microsoft.ML.Runtime;
using TorchSharp;

namespace MLNet.MoE;

/// <summary>
/// A language-model transformer from a Hugging Face DeepseekV3 checkpoint folder: the tokenizer (given, or the folder's),
/// the model read by <see cref="HuggingFaceCheckpoint"/>, the checks that the two and the context length fit, and the
/// device from the MLContext's settings. What <c>mlContext.MoE().LoadHuggingFace</c> does.
/// </summary>
internal static class HuggingFaceTransformerLoader
{
    /// <summary>Loads the checkpoint in <paramref name="checkpointDirectory"/>; see <c>MoeCatalog.LoadHuggingFace</c>.</summary>
    public static LanguageModelTransformer Load(IHostEnvironment env, string checkpointDirectory, MoeTokenizer? tokenizer, string tokenColumnName,
        string? promptColumnName, int? contextLength, GenerationOptions? generation, ComputeDevice device, ModelWeightType? weightType = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(checkpointDirectory);
        tokenizer ??= TokenizerFiles.TryLoad(checkpointDirectory)
            ?? throw new FileNotFoundException($"Checkpoint folder '{checkpointDirectory}' holds no tokenizer ({TokenizerFiles.FileName} or {TokenizerFiles.HuggingFaceFileName}): pass the tokenizer to LoadHuggingFace.",
                Path.Combine(checkpointDirectory, TokenizerFiles.FileName));
        var target = DeviceSelector.Select(env, device, null);
        var type = weightType?.ToScalarType()
            ?? (target.type == TorchSharp.DeviceType.CPU ? TorchSharp.torch.ScalarType.Float32 : HuggingFaceCheckpoint.StoredWeightType(checkpointDirectory));
        var model = HuggingFaceCheckpoint.Load(checkpointDirectory, new TensorPlacement(target, type));
        if (model.Config.VocabSize < tokenizer.VocabularySize)
        {
            model.Dispose();
            throw new ArgumentOutOfRangeException("tokenizer", $"The tokenizer's {tokenizer.VocabularySize} ids exceed the checkpoint's vocab_size ({model.Config.VocabSize}).");
        }
        int context = contextLength ?? model.Config.MaxPositionEmbeddings;
        if (context < 2 || context > model.Config.MaxPositionEmbeddings)
        {
            model.Dispose();
            throw new ArgumentOutOfRangeException("contextLength", context, $"contextLength must be between 2 and the checkpoint's max_position_embeddings ({model.Config.MaxPositionEmbeddings}).");
        }
        return new LanguageModelTransformer(model, tokenizer, tokenColumnName, promptColumnName, context, generation ?? new GenerationOptions(), null);
    }
}
