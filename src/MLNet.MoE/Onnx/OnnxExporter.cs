using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Google.Protobuf;
using Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNet.MoE;

/// <summary>
/// Writes a <see cref="MoeCausalLM"/> as an ONNX export folder: <c>model.onnx</c> (plus <c>model.onnx.data</c> when the
/// weights exceed the protobuf limit), <c>genai_config.json</c> for ONNX Runtime GenAI, and the tokenizer
/// (<c>mlnet_moe_tokenizer.bin</c>, and <c>tokenizer.json</c> when the tokenizer was read from one). Every file is
/// first written under a temporary name in the folder and renamed only when all are complete; on failure the
/// temporary files are deleted and a folder the export created is removed. <see cref="ExportClassifier"/> writes a
/// text classifier the same way, without the GenAI configuration.
/// </summary>
internal static class OnnxExporter
{
    /// <summary>
    /// Exports <paramref name="model"/> (and <paramref name="tokenizer"/>, when given) to <paramref name="directory"/>.
    /// <paramref name="contextLength"/> is the context the model was trained and is scored with (default:
    /// <c>max_position_embeddings</c>); it is recorded in the metadata and <c>genai_config.json</c> so that ONNX scoring
    /// windows long texts exactly as the TorchSharp transformer does; <paramref name="generation"/>, when given, is recorded
    /// too and becomes the ONNX transformer's default.
    /// </summary>
    public static void Export(MoeCausalLM model, MoeTokenizer? tokenizer, string directory, OnnxExportOptions? options = null, int? contextLength = null,
        GenerationOptions? generation = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(directory);
        options ??= new OnnxExportOptions();
        options.Validate();
        CheckWeights(model);
        var config = model.Config;
        if (tokenizer != null && tokenizer.VocabularySize > config.VocabSize)
            throw new ArgumentOutOfRangeException(nameof(tokenizer), $"The tokenizer's {tokenizer.VocabularySize} ids exceed the model's vocab_size ({config.VocabSize}).");

        int context = contextLength ?? config.MaxPositionEmbeddings;
        if (context < 2 || context > config.MaxPositionEmbeddings)
            throw new ArgumentOutOfRangeException(nameof(contextLength), context, $"The context length must be between 2 and the model's max_position_embeddings ({config.MaxPositionEmbeddings}).");

        var metadata = new Dictionary<string, string>
        {
            [OnnxMetadataKeys.Format] = OnnxMetadataKeys.FormatName,
            [OnnxMetadataKeys.FormatVersion] = OnnxMetadataKeys.CurrentFormatVersion,
            [OnnxMetadataKeys.VocabSize] = Invariant(config.VocabSize),
            [OnnxMetadataKeys.NumHiddenLayers] = Invariant(config.NumHiddenLayers),
            [OnnxMetadataKeys.NumHeads] = Invariant(config.NumAttentionHeads),
            [OnnxMetadataKeys.CacheHeadSize] = Invariant(OnnxDecoderGraph.CacheHeadSize(config)),
            [OnnxMetadataKeys.MaxPositions] = Invariant(config.MaxPositionEmbeddings),
            [OnnxMetadataKeys.ContextLength] = Invariant(context),
            [OnnxMetadataKeys.Weights] = options.Weights.ToString().ToLowerInvariant(),
            [OnnxMetadataKeys.Config] = config.ToJson(),
        };
        if (generation != null)
        {
            generation.Validate();
            metadata[OnnxMetadataKeys.Generation] = JsonSerializer.Serialize(generation);
        }
        if (tokenizer != null) metadata[OnnxMetadataKeys.TokenizerSha256] = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(tokenizer.Serialize()));
        ModelProto proto = OnnxDecoderGraph.Build(model, options, metadata);
        RecordWeightsDigest(proto);
        var files = ModelFiles(proto, options);
        files.Add((OnnxMetadataKeys.GenAIConfigFileName, s => s.Write(GenAIConfig(config, tokenizer, context))));
        AddTokenizerFiles(files, tokenizer, config.MaxPositionEmbeddings);
        WriteAll(directory, files);
    }

    /// <summary>
    /// Exports a text classifier to <paramref name="directory"/>: <c>model.onnx</c> with inputs <c>input_ids</c> and
    /// <c>attention_mask</c> [B, S] (right-padded rows, encoded as <c>TextClassificationTokens</c> does), with a wide branch
    /// also <c>ngram_ids</c> and <c>ngram_weights</c> [B, M] (<c>TextClassificationPadding.PadNgrams</c>), and outputs
    /// <c>logits</c> and <c>probabilities</c> [B, C]; in its metadata the class names (with their key type), pooling,
    /// maximum length, column names, the tokenizer's SHA-256, the backbone config and, with a wide branch, its bucket
    /// count and the n-gram hash version (the format version is then <see cref="OnnxMetadataKeys.NgramFormatVersion"/>);
    /// and the tokenizer files. Written atomically like <see cref="Export"/>.
    /// </summary>
    public static void ExportClassifier(MoeTextClassifier model, MoeTokenizer? tokenizer, TextClassificationSettings settings, LabelKeyValues? keyValues,
        string directory, OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentException.ThrowIfNullOrEmpty(directory);
        options ??= new OnnxExportOptions();
        options.Validate();
        CheckWeights(model.Backbone);
        var config = model.Backbone.Config;
        int maxLength = settings.MaxLength;
        if (tokenizer != null && tokenizer.VocabularySize > config.VocabSize)
            throw new ArgumentOutOfRangeException(nameof(tokenizer), $"The tokenizer's {tokenizer.VocabularySize} ids exceed the model's vocab_size ({config.VocabSize}).");
        if (settings.NgramBuckets != model.NgramBuckets)
            throw new ArgumentException($"The settings name {settings.NgramBuckets} n-gram buckets; the classifier has {model.NgramBuckets}.", nameof(settings));
        if (settings.ClassCount != model.ClassCount || (keyValues != null && keyValues.Values.Length != model.ClassCount))
            throw new ArgumentOutOfRangeException(nameof(keyValues), $"{keyValues?.Values.Length ?? settings.ClassCount} classes were given for a classifier of {model.ClassCount} classes.");
        if (maxLength < 4 || maxLength > config.MaxPositionEmbeddings)
            throw new ArgumentOutOfRangeException(nameof(settings), maxLength, $"The maximum length must be between 4 and the backbone's max_position_embeddings ({config.MaxPositionEmbeddings}).");
        var metadata = new Dictionary<string, string>
        {
            [OnnxMetadataKeys.Format] = OnnxMetadataKeys.ClassifierFormatName,
            [OnnxMetadataKeys.FormatVersion] = OnnxMetadataKeys.CurrentFormatVersion,
            [OnnxMetadataKeys.ClassCount] = Invariant(model.ClassCount),
            [OnnxMetadataKeys.Pooling] = model.Pooling.ToString(),
            [OnnxMetadataKeys.MaxLength] = Invariant(maxLength),
            [OnnxMetadataKeys.VocabSize] = Invariant(config.VocabSize),
            [OnnxMetadataKeys.TextColumn] = settings.TextColumnName,
            [OnnxMetadataKeys.PredictedLabelColumn] = settings.PredictedLabelColumnName,
            [OnnxMetadataKeys.ScoreColumn] = settings.ScoreColumnName,
            [OnnxMetadataKeys.Weights] = options.Weights.ToString().ToLowerInvariant(),
            [OnnxMetadataKeys.Config] = config.ToJson(),
        };
        if (settings.SecondTextColumnName != null) metadata[OnnxMetadataKeys.SecondTextColumn] = settings.SecondTextColumnName;
        if (model.NgramBuckets > 0)
        {
            metadata[OnnxMetadataKeys.FormatVersion] = OnnxMetadataKeys.NgramFormatVersion;
            metadata[OnnxMetadataKeys.NgramBuckets] = Invariant(model.NgramBuckets);
            metadata[OnnxMetadataKeys.NgramHashVersion] = TextClassificationNgrams.HashVersion;
        }
        if (keyValues != null)
        {
            metadata[OnnxMetadataKeys.ClassNames] = JsonSerializer.Serialize(keyValues.AsText());
            metadata[OnnxMetadataKeys.ClassNamesType] = keyValues.TypeName;
        }
        if (tokenizer != null) metadata[OnnxMetadataKeys.TokenizerSha256] = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(tokenizer.Serialize()));
        ModelProto proto = OnnxDecoderGraph.BuildClassifier(model, options, metadata);
        RecordWeightsDigest(proto);
        var files = ModelFiles(proto, options);
        AddTokenizerFiles(files, tokenizer, maxLength);
        WriteAll(directory, files);
    }

    /// <summary>Records the SHA-256 of the weights in the metadata (before any initializer moves to external data).</summary>
    private static void RecordWeightsDigest(ModelProto proto) =>
        proto.MetadataProps.Add(new StringStringEntryProto { Key = OnnxMetadataKeys.WeightsSha256, Value = OnnxWeightsDigest.Compute(proto, folder: null) });

    /// <summary>model.onnx, and model.onnx.data first when the weights exceed the threshold.</summary>
    private static List<(string Name, Action<Stream> Write)> ModelFiles(ModelProto proto, OnnxExportOptions options)
    {
        byte[]? externalData = null;
        if (proto.Graph.Initializer.Sum(t => (long)t.RawData.Length) > options.ExternalDataThresholdBytes)
            externalData = MoveToExternalData(proto);
        var files = new List<(string Name, Action<Stream> Write)>();
        if (externalData != null) files.Add((OnnxMetadataKeys.ExternalDataFileName, s => s.Write(externalData)));
        files.Add((OnnxMetadataKeys.ModelFileName, s => proto.WriteTo(s)));
        return files;
    }

    private static void AddTokenizerFiles(List<(string Name, Action<Stream> Write)> files, MoeTokenizer? tokenizer, int maxLength)
    {
        if (tokenizer == null) return;
        foreach (var (name, bytes) in TokenizerFiles.For(tokenizer, maxLength)) files.Add((name, s => s.Write(bytes)));
    }

    /// <summary>Refuses a disposed model and one whose weights hold NaN or infinity, naming the tensor.</summary>
    private static void CheckWeights(MoeCausalLM model)
    {
        Dictionary<string, Tensor> tensors;
        try
        {
            tensors = model.state_dict();
        }
        catch (Exception e) when (e is ObjectDisposedException or InvalidOperationException or NullReferenceException)
        {
            throw new ObjectDisposedException(nameof(MoeCausalLM), "The model was disposed: it cannot be exported to ONNX.");
        }
        // A disposed TorchSharp module lists no tensors any more.
        if (!tensors.ContainsKey("lm_head.weight"))
            throw new ObjectDisposedException(nameof(MoeCausalLM), "The model was disposed (it holds no weights any more): it cannot be exported to ONNX.");
        using var scope = torch.NewDisposeScope();
        foreach (var (name, tensor) in tensors)
        {
            if (tensor.IsInvalid) throw new ObjectDisposedException(nameof(MoeCausalLM), $"The model was disposed (tensor '{name}' is released): it cannot be exported to ONNX.");
            if (!torch.isfinite(tensor.detach()).all().item<bool>())
                throw new InvalidOperationException($"Tensor '{name}' holds NaN or infinite values: the model cannot be exported to ONNX.");
        }
    }

    /// <summary>Moves every initializer of 1 KiB or more to one external data blob (offsets 64-byte aligned) and returns it.</summary>
    private static byte[] MoveToExternalData(ModelProto proto)
    {
        using var data = new MemoryStream();
        foreach (var tensor in proto.Graph.Initializer)
        {
            if (tensor.RawData.Length < 1024) continue;
            long padding = (64 - data.Length % 64) % 64;
            data.Write(new byte[padding]);
            long offset = data.Length;
            tensor.RawData.WriteTo(data);
            tensor.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = OnnxMetadataKeys.ExternalDataFileName });
            tensor.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = Invariant(offset) });
            tensor.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = Invariant(tensor.RawData.Length) });
            tensor.DataLocation = TensorProto.Types.DataLocation.External;
            tensor.RawData = ByteString.Empty;
        }
        return data.ToArray();
    }

    /// <summary>
    /// ONNX Runtime GenAI's configuration for the exported decoder (CPU, growing cache, greedy by default), with the
    /// trained context as <c>context_length</c> and the default <c>max_length</c>.
    /// </summary>
    internal static byte[] GenAIConfig(MoeModelConfig config, MoeTokenizer? tokenizer, int contextLength)
    {
        int endOfText = tokenizer?.EndOfTextId ?? config.EosTokenId ?? 0;
        var root = new JsonObject
        {
            ["model"] = new JsonObject
            {
                ["bos_token_id"] = config.BosTokenId ?? endOfText,
                ["eos_token_id"] = config.EosTokenId ?? endOfText,
                ["pad_token_id"] = config.PadTokenId ?? endOfText,
                ["context_length"] = contextLength,
                ["vocab_size"] = config.VocabSize,
                ["type"] = "llama",
                ["decoder"] = new JsonObject
                {
                    ["session_options"] = new JsonObject { ["log_id"] = "onnxruntime-genai", ["provider_options"] = new JsonArray() },
                    ["filename"] = OnnxMetadataKeys.ModelFileName,
                    ["head_size"] = OnnxDecoderGraph.CacheHeadSize(config),
                    ["hidden_size"] = config.HiddenSize,
                    ["num_attention_heads"] = config.NumAttentionHeads,
                    ["num_key_value_heads"] = config.NumAttentionHeads,
                    ["num_hidden_layers"] = config.NumHiddenLayers,
                    ["inputs"] = new JsonObject
                    {
                        ["input_ids"] = "input_ids",
                        ["attention_mask"] = "attention_mask",
                        ["position_ids"] = "position_ids",
                        ["past_key_names"] = "past_key_values.%d.key",
                        ["past_value_names"] = "past_key_values.%d.value",
                    },
                    ["outputs"] = new JsonObject
                    {
                        ["logits"] = "logits",
                        ["present_key_names"] = "present.%d.key",
                        ["present_value_names"] = "present.%d.value",
                    },
                },
            },
            ["search"] = new JsonObject
            {
                ["do_sample"] = false,
                ["max_length"] = contextLength,
                ["min_length"] = 0,
                ["num_beams"] = 1,
                ["num_return_sequences"] = 1,
                ["past_present_share_buffer"] = false,
                ["repetition_penalty"] = 1.0,
                ["temperature"] = 1.0,
                ["top_k"] = 1,
                ["top_p"] = 1.0,
            },
        };
        return JsonSerializer.SerializeToUtf8Bytes(root, new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>Writes every file under a temporary name, then renames them all; on failure nothing new is left behind.</summary>
    private static void WriteAll(string directory, List<(string Name, Action<Stream> Write)> files)
    {
        string full = Path.GetFullPath(directory);
        bool created = !Directory.Exists(full);
        var temps = new List<(string Temp, string Target)>();
        try
        {
            try
            {
                Directory.CreateDirectory(full);
                foreach (var (name, write) in files)
                {
                    string target = Path.Combine(full, name);
                    string temp = AtomicFile.TempPathFor(target);
                    temps.Add((temp, target));
                    AtomicFile.WriteTemp(temp, write);
                }
            }
            catch (Exception e) when (e is UnauthorizedAccessException or IOException)
            {
                throw new IOException($"Cannot write the ONNX export to '{full}': {e.Message}", e);
            }
            // A previous export's external data would be stale next to a model that no longer refers to it.
            if (!files.Any(f => f.Name == OnnxMetadataKeys.ExternalDataFileName)) File.Delete(Path.Combine(full, OnnxMetadataKeys.ExternalDataFileName));
            foreach (var (temp, target) in temps) File.Move(temp, target, overwrite: true);
        }
        catch
        {
            foreach (var (temp, _) in temps) AtomicFile.TryDelete(temp);
            if (created && Directory.Exists(full) && !Directory.EnumerateFileSystemEntries(full).Any()) Directory.Delete(full);
            throw;
        }
    }

    private static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// Exports a trained classifier transformer (its classifier, with its wide branch when it has one, tokenizer, column
    /// names, maximum length and label key values). An ensemble is refused: the graph holds one classifier.
    /// </summary>
    public static void ExportClassifierTransformer(MoeTextClassificationTransformer model, string directory, OnnxExportOptions? options)
    {
        if (model.Members.Count > 1)
            throw new NotSupportedException($"ExportOnnx: the text classifier is an ensemble of {model.Members.Count} classifiers (MoeTextClassificationOptions.EnsembleSize); the ONNX graph holds one classifier. Train with EnsembleSize 1 to export it, or score the ensemble with the transformer.");
        ExportClassifier(model.Model, model.Tokenizer, model.Settings, model.KeyValues, directory, options);
    }
}
