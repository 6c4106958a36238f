using Microsoft.ML;

namespace MLNet.MoE;

/// <summary>Builds the backbone and tokenizer a text classifier starts from, as the options say (see <see cref="MoeTextClassificationOptions"/>).</summary>
internal static class TextClassificationBackbone
{
    /// <summary>A backbone the caller owns, and its tokenizer.</summary>
    public static (MoeCausalLM Model, MoeTokenizer Tokenizer) Create(MoeTextClassificationOptions options, int seed)
    {
        MoeCausalLM model;
        MoeTokenizer tokenizer;
        if (options.LanguageModelPath is { } path)
        {
            if (!File.Exists(path)) throw new FileNotFoundException($"MoeTextClassificationOptions.LanguageModelPath: the language-model file '{path}' does not exist.", path);
            // A separate context: the loaded pipeline is only read for its model and tokenizer, then dropped.
            var loaded = new MLContext(seed).Model.Load(path, out _);
            var language = Find(loaded)
                ?? throw new InvalidDataException($"MoeTextClassificationOptions.LanguageModelPath: '{path}' holds no MoE language model (no LanguageModelTransformer in its transformer chain).");
            model = language.Model;
            tokenizer = options.Tokenizer ?? language.Tokenizer;
        }
        else if (options.HuggingFaceCheckpointDirectory is { } directory)
        {
            tokenizer = options.Tokenizer
                ?? TokenizerFiles.TryLoad(directory)
                ?? throw new FileNotFoundException($"MoeTextClassificationOptions.HuggingFaceCheckpointDirectory: '{directory}' has no tokenizer ({TokenizerFiles.FileName} or {TokenizerFiles.HuggingFaceFileName}); set MoeTextClassificationOptions.Tokenizer.",
                    Path.Combine(directory, TokenizerFiles.FileName));
            model = HuggingFaceCheckpoint.Load(directory);
        }
        else if (options.InitialModel is { } initial)
        {
            tokenizer = options.Tokenizer ?? initial.Tokenizer;
            model = initial.Model.Copy();
        }
        else
        {
            tokenizer = options.Tokenizer ?? MoeTokenizer.ByteLevel();
            var config = options.Model ?? MoeTextClassificationOptions.DefaultModel;
            config = config with
            {
                VocabSize = Math.Max(config.VocabSize, tokenizer.VocabularySize),
                MaxPositionEmbeddings = Math.Max(config.MaxPositionEmbeddings, options.MaxLength),
                BosTokenId = config.BosTokenId ?? tokenizer.EndOfTextId,
                EosTokenId = config.EosTokenId ?? tokenizer.EndOfTextId,
            };
            model = new MoeCausalLM(config, seed, options.Initialization);
        }
        try
        {
            if (model.Config.VocabSize < tokenizer.VocabularySize)
                throw new ArgumentOutOfRangeException(nameof(MoeTextClassificationOptions.Tokenizer), $"The backbone has vocab_size {model.Config.VocabSize}, smaller than the tokenizer's {tokenizer.VocabularySize} ids.");
            if (options.MaxLength > model.Config.MaxPositionEmbeddings)
                throw new ArgumentOutOfRangeException(nameof(MoeTextClassificationOptions.MaxLength), options.MaxLength, $"MoeTextClassificationOptions.MaxLength must not exceed the backbone's max_position_embeddings ({model.Config.MaxPositionEmbeddings}).");
        }
        catch
        {
            model.Dispose();
            throw;
        }
        return (model, tokenizer);
    }

    /// <summary>The first language-model transformer in <paramref name="transformer"/> (searching chains depth first).</summary>
    public static LanguageModelTransformer? Find(ITransformer transformer) => transformer switch
    {
        LanguageModelTransformer language => language,
        IEnumerable<ITransformer> chain => chain.Select(Find).FirstOrDefault(t => t != null),
        _ => null,
    };
}
