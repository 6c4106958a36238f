using System.Globalization;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;

namespace MLNet.MoE;

/// <summary>
/// An MLNet.MoE decoder exported to ONNX, loaded in ONNX Runtime: full passes for scoring and cached steps for
/// generation. Checks on load that the bytes are an ONNX model exported by MLNet.MoE, with clear errors otherwise.
/// </summary>
internal sealed class OnnxDecoder : ILanguageModelRunner
{
    private readonly OnnxModelFile file;
    private readonly InferenceSession session;

    // One RunOptions for the decoder's lifetime, disposed with the session. A fresh, undisposed RunOptions per call was
    // left to the finalizer, which could free its native handle while ONNX Runtime still used it (heap corruption).
    private readonly RunOptions runOptions = new();

    private OnnxDecoder(OnnxModelFile file)
    {
        this.file = file;
        session = file.Session;
        try
        {
            VocabSize = file.Positive(OnnxMetadataKeys.VocabSize);
            Layers = file.Positive(OnnxMetadataKeys.NumHiddenLayers);
            Heads = file.Positive(OnnxMetadataKeys.NumHeads);
            CacheHeadSize = file.Positive(OnnxMetadataKeys.CacheHeadSize);
            MaxPositions = file.Positive(OnnxMetadataKeys.MaxPositions);
            ContextLength = file.Optional(OnnxMetadataKeys.ContextLength) != null ? file.Positive(OnnxMetadataKeys.ContextLength) : MaxPositions;
            if (ContextLength > MaxPositions)
                throw new InvalidDataException($"{file.Source}: metadata entry '{OnnxMetadataKeys.ContextLength}' ({ContextLength}) exceeds '{OnnxMetadataKeys.MaxPositions}' ({MaxPositions}).");
            TokenizerSha256 = file.Optional(OnnxMetadataKeys.TokenizerSha256);
            Weights = file.Optional(OnnxMetadataKeys.Weights) ?? "float32";
            if (file.Optional(OnnxMetadataKeys.Generation) is string generation)
            {
                try
                {
                    Generation = JsonSerializer.Deserialize<GenerationOptions>(generation) ?? throw new JsonException("null");
                    Generation.Validate();
                }
                catch (Exception e) when (e is JsonException or ArgumentException)
                {
                    throw new InvalidDataException($"{file.Source}: metadata entry '{OnnxMetadataKeys.Generation}' is not valid generation options: {MLNet.MoE.MessageText.Printable(e.Message)}", e);
                }
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The model file's bytes (null when loaded from a path with external data).</summary>
    public byte[]? ModelBytes => file.Bytes;

    /// <summary>Logits width.</summary>
    public int VocabSize { get; }

    /// <summary>Blocks (past/present pairs).</summary>
    public int Layers { get; }

    /// <summary>Cached heads.</summary>
    public int Heads { get; }

    /// <summary>Width of a cached head.</summary>
    public int CacheHeadSize { get; }

    /// <summary>Longest sequence the model accepts.</summary>
    public int MaxPositions { get; }

    /// <summary>The context the model was trained with (from the export's metadata; <see cref="MaxPositions"/> for older exports).</summary>
    public int ContextLength { get; }

    /// <summary>Hex SHA-256 of the tokenizer file exported beside the model (null for older exports or none).</summary>
    public string? TokenizerSha256 { get; }

    /// <summary>float32, int8 or int4.</summary>
    public string Weights { get; }

    /// <summary>The generation options recorded at export (null for older exports).</summary>
    public GenerationOptions? Generation { get; }

    /// <summary>Loads a model from its bytes (self-contained, no external data).</summary>
    public static OnnxDecoder FromBytes(byte[] bytes, string source) => new(OnnxModelFile.FromBytes(bytes, source, OnnxMetadataKeys.FormatName));

    /// <summary>Loads <c>model.onnx</c> from a path; external data beside it is found by ONNX Runtime.</summary>
    public static OnnxDecoder FromFile(string path) => new(OnnxModelFile.FromFile(path, OnnxMetadataKeys.FormatName));

    /// <summary>Logits [batch, sequence, V] (flattened) for ids [batch, sequence] with no cache.</summary>
    public float[] Logits(long[] ids, int batch, int sequence)
    {
        using var state = new DecoderState(this, batch);
        return state.Run(ids, sequence);
    }

    /// <summary>A cache for step-by-step decoding of <paramref name="batch"/> rows.</summary>
    public DecoderState Start(int batch = 1) => new(this, batch);

    /// <summary>One full pass; the cross-entropy is computed on the CPU from the returned logits.</summary>
    public RowScores Score(ScoringBatch batch) => LogitsCrossEntropy.Score(batch, Logits(batch.Inputs, batch.Rows, batch.Length), VocabSize);

    /// <summary>A one-row decoding session.</summary>
    public IDecodingSession StartDecoding() => Start();

    internal IDisposableReadOnlyCollection<OrtValue> Run(IReadOnlyDictionary<string, OrtValue> inputs)
    {
        var outputNames = session.OutputNames;
        return session.Run(runOptions, inputs, outputNames);
    }

    /// <summary>Releases the ONNX Runtime session.</summary>
    public void Dispose()
    {
        file.Dispose();
        runOptions.Dispose();
    }

    /// <summary>The past keys/values of one sequence batch; each <see cref="Run"/> appends the new tokens.</summary>
    internal sealed class DecoderState : IDecodingSession
    {
        private readonly OnnxDecoder decoder;
        private readonly int batch;
        private OrtValue[] past;
        private IDisposableReadOnlyCollection<OrtValue>? lastResults;

        public DecoderState(OnnxDecoder decoder, int batch)
        {
            this.decoder = decoder;
            this.batch = batch;
            var empty = new long[] { batch, decoder.Heads, 0, decoder.CacheHeadSize };
            past = Enumerable.Range(0, 2 * decoder.Layers).Select(_ => OrtValue.CreateTensorValueFromMemory(Array.Empty<float>(), empty)).ToArray();
        }

        /// <summary>Tokens cached.</summary>
        public int Length { get; private set; }

        /// <summary>Feeds ids [batch, sequence]; returns logits [batch, sequence, V] flattened.</summary>
        public float[] Run(long[] ids, int sequence)
        {
            int total = Length + sequence;
            if (total > decoder.MaxPositions)
                throw new ArgumentOutOfRangeException(nameof(ids), $"The sequence ({total} tokens) exceeds the model's max_position_embeddings ({decoder.MaxPositions}).");
            var positions = new long[batch * sequence];
            for (int b = 0; b < batch; b++)
            {
                for (int s = 0; s < sequence; s++) positions[b * sequence + s] = Length + s;
            }
            var mask = new long[batch * total];
            Array.Fill(mask, 1L);
            using var idsValue = OrtValue.CreateTensorValueFromMemory(ids, new long[] { batch, sequence });
            using var maskValue = OrtValue.CreateTensorValueFromMemory(mask, new long[] { batch, total });
            using var positionValue = OrtValue.CreateTensorValueFromMemory(positions, new long[] { batch, sequence });
            var inputs = new Dictionary<string, OrtValue>
            {
                ["input_ids"] = idsValue,
                ["attention_mask"] = maskValue,
                ["position_ids"] = positionValue,
            };
            for (int i = 0; i < decoder.Layers; i++)
            {
                inputs[$"past_key_values.{i}.key"] = past[2 * i];
                inputs[$"past_key_values.{i}.value"] = past[2 * i + 1];
            }
            var results = decoder.Run(inputs);
            var names = decoder.session.OutputNames;
            float[] logits = Array.Empty<float>();
            var next = new OrtValue[2 * decoder.Layers];
            for (int o = 0; o < names.Count; o++)
            {
                string name = names[o];
                if (name == "logits")
                {
                    logits = results[o].GetTensorDataAsSpan<float>().ToArray();
                }
                else if (name.StartsWith("present.", StringComparison.Ordinal))
                {
                    var parts = name.Split('.');
                    int layer = int.Parse(parts[1], CultureInfo.InvariantCulture);
                    next[2 * layer + (parts[2] == "key" ? 0 : 1)] = results[o];
                }
            }
            // The presents live in the results collection; the previous one (and the empty pasts) can go now.
            if (lastResults == null)
            {
                foreach (var value in past) value.Dispose();
            }
            lastResults?.Dispose();
            lastResults = results;
            past = next;
            Length = total;
            return logits;
        }

        /// <summary>Feeds the tokens of a one-row session; returns the logits after the last one.</summary>
        public float[] Feed(IReadOnlyList<int> tokens)
        {
            float[] logits = Run(tokens.Select(t => (long)t).ToArray(), tokens.Count);
            return logits[^decoder.VocabSize..];
        }

        public void Dispose()
        {
            if (lastResults != null) lastResults.Dispose();
            else foreach (var value in past) value.Dispose();
        }
    }
}
