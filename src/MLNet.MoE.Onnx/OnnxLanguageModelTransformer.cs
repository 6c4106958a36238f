using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNet.MoE;

[assembly: LoadableClass(typeof(OnnxLanguageModelTransformer), null, typeof(SignatureLoadModel), "MoE ONNX Language Model", OnnxLanguageModelTransformer.LoaderSignature)]

namespace MLNet.MoE;

/// <summary>
/// An MLNet.MoE language model exported to ONNX, scored by ONNX Runtime in an ML.NET pipeline, with the same output
/// columns as the TorchSharp <c>LanguageModelTransformer</c>: <c>Score</c> (mean next-token cross-entropy, nats),
/// <c>Perplexity</c>, <c>TokenCount</c>, <c>TokenAccuracy</c> and, with a prompt column, <c>GeneratedText</c>. The
/// scored column holds token ids (a vector of Int32, from <c>TokenizeForMoe</c>) or text, which is then tokenized with
/// the model's tokenizer. A row's first token is predicted from the end-of-text token; long rows are scored in
/// consecutive windows of the context length. Saved in the model zip with the ONNX bytes and the tokenizer.
/// </summary>
public sealed class OnnxLanguageModelTransformer : ITransformer, ICanSaveModel, IDisposable
{
    internal const string LoaderSignature = "MLNetMoEOnnxLangModel";
    private const string ModelSignature = "MOEONNXL";
    private const uint Version = 0x00010001;
    private const string OnnxStream = "Model.onnx";
    private const string TokenizerStream = "Tokenizer.bin";
    private const int WindowsPerRun = 8;

    /// <summary>Name of the mean cross-entropy column.</summary>
    public const string ScoreColumnName = "Score";

    /// <summary>Name of the perplexity column.</summary>
    public const string PerplexityColumnName = "Perplexity";

    /// <summary>Name of the scored-token count column.</summary>
    public const string TokenCountColumnName = "TokenCount";

    /// <summary>Name of the next-token accuracy column.</summary>
    public const string TokenAccuracyColumnName = "TokenAccuracy";

    /// <summary>Name of the generated-text column.</summary>
    public const string GeneratedTextColumnName = "GeneratedText";

    private readonly OnnxDecoder decoder;

    internal OnnxLanguageModelTransformer(OnnxDecoder decoder, MoeTokenizer tokenizer, string tokenColumnName, string? promptColumnName,
        int? contextLength, GenerationOptions generation)
    {
        ArgumentException.ThrowIfNullOrEmpty(tokenColumnName);
        generation.Validate();
        if (tokenizer.VocabularySize > decoder.VocabSize)
            throw new ArgumentOutOfRangeException(nameof(tokenizer), $"The tokenizer's {tokenizer.VocabularySize} ids exceed the ONNX model's vocabulary ({decoder.VocabSize}).");
        int context = contextLength ?? decoder.ContextLength;
        if (context < 2 || context > decoder.MaxPositions)
            throw new ArgumentOutOfRangeException(nameof(contextLength), context, $"contextLength must be between 2 and the model's max_position_embeddings ({decoder.MaxPositions}).");
        this.decoder = decoder;
        Tokenizer = tokenizer;
        TokenColumnName = tokenColumnName;
        PromptColumnName = promptColumnName;
        ContextLength = context;
        Generation = generation;
    }

    /// <summary>The tokenizer used for text columns, prompts and generated text.</summary>
    public MoeTokenizer Tokenizer { get; }

    /// <summary>The scored column (token ids or text).</summary>
    public string TokenColumnName { get; }

    /// <summary>The prompt column, or null when the transformer does not generate.</summary>
    public string? PromptColumnName { get; }

    /// <summary>Tokens per scoring window and the generation context.</summary>
    public int ContextLength { get; }

    /// <summary>How <c>GeneratedText</c> is produced.</summary>
    public GenerationOptions Generation { get; }

    /// <summary>How the model's matrices are stored: float32, int8 or int4.</summary>
    public string WeightType => decoder.Weights;

    /// <summary>Always true: each row is mapped on its own.</summary>
    public bool IsRowToRowMapper => true;

    /// <summary>The input schema plus the score columns (and GeneratedText with a prompt column).</summary>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => new Mapper(this, inputSchema).OutputSchema;

    /// <summary>A row-to-row mapper (used by PredictionEngine).</summary>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => new MappedRowToRowMapper(new Mapper(this, inputSchema));

    /// <summary>Adds the output columns, computed lazily row by row.</summary>
    public IDataView Transform(IDataView input) => new MappedDataView(input, new Mapper(this, input.Schema));

    /// <summary>Generates a continuation of <paramref name="prompt"/> with <paramref name="options"/> (default: the transformer's).</summary>
    public string Generate(string prompt, GenerationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        options ??= Generation;
        options.Validate();
        int maxNew = Math.Min(options.MaxNewTokens, ContextLength - 1);
        var ids = new List<int> { Tokenizer.EndOfTextId };
        ids.AddRange(Tokenizer.Encode(prompt));
        int keep = ContextLength - maxNew;
        if (ids.Count > keep) ids = ids.GetRange(ids.Count - keep, keep);
        var sampler = new TokenSampler(options.Temperature, options.TopK, options.TopP, options.Seed);
        var generated = new List<int>();
        string? stopped = null;
        using (var state = decoder.Start())
        {
            long[] feed = ids.Select(t => (long)t).ToArray();
            for (int i = 0; i < maxNew; i++)
            {
                float[] logits = state.Run(feed, feed.Length);
                int next = sampler.Next(logits.AsSpan(logits.Length - decoder.VocabSize, decoder.VocabSize));
                if (options.StopAtEndOfText && next == Tokenizer.EndOfTextId) break;
                generated.Add(next);
                if (options.StopSequences.Count > 0 && StopsAt(Tokenizer.Decode(generated), options.StopSequences, out stopped)) break;
                feed = new[] { (long)next };
            }
        }
        return stopped ?? Tokenizer.Decode(generated);
    }

    /// <summary>Greedy or sampled token ids after <paramref name="prompt"/> ids (no end-of-text prefix, no stop rules): the raw decoding loop.</summary>
    public int[] GenerateTokens(IReadOnlyList<int> prompt, int maxNewTokens, GenerationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        if (prompt.Count == 0) throw new ArgumentException("The prompt must hold at least one token.", nameof(prompt));
        options ??= Generation;
        var sampler = new TokenSampler(options.Temperature, options.TopK, options.TopP, options.Seed);
        var generated = new int[maxNewTokens];
        using var state = decoder.Start();
        long[] feed = prompt.Select(t => (long)t).ToArray();
        for (int i = 0; i < maxNewTokens; i++)
        {
            float[] logits = state.Run(feed, feed.Length);
            generated[i] = sampler.Next(logits.AsSpan(logits.Length - decoder.VocabSize, decoder.VocabSize));
            feed = new[] { (long)generated[i] };
        }
        return generated;
    }

    /// <summary>
    /// Generates after <paramref name="prompt"/> ids with <paramref name="sampler"/>: stops at end-of-text (not returned),
    /// after <paramref name="maxNewTokens"/>, or when <paramref name="step"/>, called with the tokens so far after each new
    /// one, returns true (a caller streams text or checks cancellation there). Prompt plus new tokens must fit in
    /// <see cref="ContextLength"/>.
    /// </summary>
    public int[] Generate(IReadOnlyList<int> prompt, int maxNewTokens, TokenSampler sampler, Func<IReadOnlyList<int>, bool>? step = null)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(sampler);
        if (prompt.Count == 0) throw new ArgumentException("The prompt must hold at least one token.", nameof(prompt));
        if (prompt.Count + maxNewTokens > ContextLength)
            throw new ArgumentOutOfRangeException(nameof(maxNewTokens), $"Prompt ({prompt.Count} tokens) plus new tokens ({maxNewTokens}) exceed the context of {ContextLength} tokens.");
        var generated = new List<int>();
        using var state = decoder.Start();
        long[] feed = prompt.Select(t => (long)t).ToArray();
        for (int i = 0; i < maxNewTokens; i++)
        {
            float[] logits = state.Run(feed, feed.Length);
            int next = sampler.Next(logits.AsSpan(logits.Length - decoder.VocabSize, decoder.VocabSize));
            if (next == Tokenizer.EndOfTextId) break;
            generated.Add(next);
            if (step != null && step(generated)) break;
            feed = new[] { (long)next };
        }
        return generated.ToArray();
    }

    /// <summary>
    /// Scores many texts' token ids at once, as <see cref="ScoreTokens"/> scores each (the first token predicted from
    /// end-of-text): the texts are right-padded into one batch per run of at most <paramref name="maxTokensPerRun"/>
    /// positions. With causal attention a text's tokens never see the padding after them, so its scores are those of the
    /// text alone. Every text must fit in <see cref="ContextLength"/>.
    /// </summary>
    public IReadOnlyList<(double CrossEntropySum, long Correct, long Tokens)> ScoreBatch(IReadOnlyList<IReadOnlyList<int>> texts, int maxTokensPerRun = 8192)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var results = new (double, long, long)[texts.Count];
        var order = Enumerable.Range(0, texts.Count).Where(i => texts[i].Count > 0).OrderBy(i => texts[i].Count).ToList();
        for (int i = 0; i < texts.Count; i++)
        {
            if (texts[i].Count > ContextLength)
                throw new ArgumentOutOfRangeException(nameof(texts), $"Text {i} is {texts[i].Count} tokens long; the context is {ContextLength} tokens.");
            foreach (int id in texts[i])
            {
                if ((uint)id >= (uint)decoder.VocabSize)
                    throw new ArgumentOutOfRangeException(nameof(texts), $"Token id {id} of text {i} is outside the model's vocabulary (0..{decoder.VocabSize - 1}).");
            }
        }
        int vocab = decoder.VocabSize;
        for (int start = 0; start < order.Count;)
        {
            // Rows sorted by length: take rows while the padded batch stays within the budget.
            int end = start + 1;
            while (end < order.Count && (end + 1 - start) * texts[order[end]].Count <= Math.Max(maxTokensPerRun, texts[order[end]].Count)) end++;
            var rows = order.GetRange(start, end - start);
            int length = texts[rows[^1]].Count;
            var inputs = new long[rows.Count * length];
            for (int r = 0; r < rows.Count; r++)
            {
                var text = texts[rows[r]];
                inputs[r * length] = Tokenizer.EndOfTextId;
                for (int t = 1; t < length; t++) inputs[r * length + t] = t <= text.Count - 1 ? text[t - 1] : Tokenizer.EndOfTextId;
            }
            float[] logits = decoder.Logits(inputs, rows.Count, length);
            for (int r = 0; r < rows.Count; r++)
            {
                var text = texts[rows[r]];
                double sum = 0;
                long correct = 0;
                for (int t = 0; t < text.Count; t++)
                {
                    sum += CrossEntropy(logits.AsSpan((r * length + t) * vocab, vocab), text[t], out bool hit);
                    if (hit) correct++;
                }
                results[rows[r]] = (sum, correct, text.Count);
            }
            start = end;
        }
        return results;
    }

    /// <summary>−log softmax(<paramref name="logits"/>)[<paramref name="target"/>], and whether the target is the most likely id.</summary>
    private static double CrossEntropy(ReadOnlySpan<float> logits, int target, out bool mostLikely)
    {
        int best = 0;
        float max = logits[0];
        for (int v = 1; v < logits.Length; v++)
        {
            if (logits[v] > max)
            {
                max = logits[v];
                best = v;
            }
        }
        double total = 0;
        for (int v = 0; v < logits.Length; v++) total += Math.Exp(logits[v] - max);
        mostLikely = best == target;
        return Math.Log(total) + max - logits[target];
    }

    private static bool StopsAt(string text, IReadOnlyList<string> stops, out string? stopped)
    {
        foreach (string s in stops)
        {
            int at = text.IndexOf(s, StringComparison.Ordinal);
            if (at >= 0)
            {
                stopped = text[..at];
                return true;
            }
        }
        stopped = null;
        return false;
    }

    /// <summary>
    /// Scores token ids: summed cross-entropy (nats), correct next tokens and tokens scored; the first is predicted from
    /// end-of-text, and windows of <see cref="ContextLength"/> inputs follow each other so no token is predicted twice.
    /// </summary>
    public (double CrossEntropySum, long Correct, long Tokens) ScoreTokens(IReadOnlyList<int> tokens)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        var stream = new int[tokens.Count + 1];
        stream[0] = Tokenizer.EndOfTextId;
        for (int i = 0; i < tokens.Count; i++)
        {
            if ((uint)tokens[i] >= (uint)decoder.VocabSize)
                throw new ArgumentOutOfRangeException(nameof(tokens), $"Token id {tokens[i]} in column '{TokenColumnName}' is outside the model's vocabulary (0..{decoder.VocabSize - 1}).");
            stream[i + 1] = tokens[i];
        }
        double sum = 0;
        long correct = 0, count = 0;
        var starts = new List<int>();
        for (int s = 0; s + 1 < stream.Length; s += ContextLength) starts.Add(s);
        for (int i = 0; i < starts.Count; i += WindowsPerRun)
        {
            foreach (var sameLength in starts.Skip(i).Take(WindowsPerRun).GroupBy(s => Math.Min(ContextLength, stream.Length - 1 - s)))
            {
                int length = sameLength.Key;
                var windows = sameLength.ToList();
                var inputs = new long[windows.Count * length];
                for (int w = 0; w < windows.Count; w++)
                {
                    for (int t = 0; t < length; t++) inputs[w * length + t] = stream[windows[w] + t];
                }
                float[] logits = decoder.Logits(inputs, windows.Count, length);
                int vocab = decoder.VocabSize;
                for (int w = 0; w < windows.Count; w++)
                {
                    for (int t = 0; t < length; t++)
                    {
                        sum += CrossEntropy(logits.AsSpan((w * length + t) * vocab, vocab), stream[windows[w] + t + 1], out bool hit);
                        if (hit) correct++;
                        count++;
                    }
                }
            }
        }
        return (sum, correct, count);
    }

    /// <summary>Releases the ONNX Runtime session.</summary>
    public void Dispose() => decoder.Dispose();

    void ICanSaveModel.Save(ModelSaveContext ctx)
    {
        byte[] onnx = decoder.ModelBytes ?? throw new NotSupportedException(
            "This ONNX model keeps its weights in an external data file (over 2 GB) and cannot be stored inside a model zip; load it from its folder instead.");
        ctx.CheckAtModel();
        ctx.SetVersionInfo(ModelVersions.Create(ModelSignature, Version, LoaderSignature));
        ctx.SaveNonEmptyString(TokenColumnName);
        ctx.SaveStringOrNull(PromptColumnName);
        ctx.Writer.Write(ContextLength);
        GenerationOptionsFormat.Write(ctx.Writer, Generation);
        byte[] tokenizer = Tokenizer.Serialize();
        ctx.SaveBinaryStream(TokenizerStream, w =>
        {
            w.Write(tokenizer.Length);
            w.Write(tokenizer);
        });
        ctx.SaveBinaryStream(OnnxStream, w =>
        {
            w.Write(onnx.Length);
            w.Write(onnx);
        });
    }

    private static OnnxLanguageModelTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        ctx.CheckAtModel(ModelVersions.Create(ModelSignature, Version, LoaderSignature));
        ZipEntryIntegrity.Verify(ctx);
        string tokenColumn = ctx.LoadNonEmptyString();
        string? promptColumn = ctx.LoadStringOrNull();
        int contextLength = ctx.Reader.ReadInt32();
        GenerationOptions generation = GenerationOptionsFormat.Read(ctx.Reader);
        MoeTokenizer? tokenizer = null;
        byte[]? onnx = null;
        if (!ctx.TryLoadBinaryStream(TokenizerStream, r => tokenizer = MoeTokenizer.Deserialize(ModelStreams.ReadBlock(r, TokenizerStream))) || tokenizer == null)
            throw new InvalidDataException($"The ONNX language model has no '{TokenizerStream}' entry: the model file is incomplete.");
        if (!ctx.TryLoadBinaryStream(OnnxStream, r => onnx = ModelStreams.ReadBlock(r, OnnxStream)) || onnx == null)
            throw new InvalidDataException($"The ONNX language model has no '{OnnxStream}' entry: the model file is incomplete.");
        var decoder = OnnxDecoder.FromBytes(onnx, $"model zip entry '{OnnxStream}'");
        try
        {
            return new OnnxLanguageModelTransformer(decoder, tokenizer, tokenColumn, promptColumn, contextLength, generation);
        }
        catch
        {
            decoder.Dispose();
            throw;
        }
    }

    private sealed class Mapper : ColumnMapper
    {
        private readonly OnnxLanguageModelTransformer parent;
        private readonly int tokenIndex;
        private readonly bool tokensAreText;
        private readonly int promptIndex = -1;

        public Mapper(OnnxLanguageModelTransformer parent, DataViewSchema inputSchema) : base(inputSchema)
        {
            this.parent = parent;
            var column = inputSchema.GetColumnOrNull(parent.TokenColumnName);
            tokensAreText = column?.Type is TextDataViewType;
            tokenIndex = tokensAreText ? column!.Value.Index : SchemaChecks.RequireTokenIds(inputSchema, parent.TokenColumnName, "Token").Index;
            var columns = new List<DataViewSchema.DetachedColumn>
            {
                new(ScoreColumnName, NumberDataViewType.Single),
                new(PerplexityColumnName, NumberDataViewType.Single),
                new(TokenCountColumnName, NumberDataViewType.Single),
                new(TokenAccuracyColumnName, NumberDataViewType.Single),
            };
            if (parent.PromptColumnName != null)
            {
                promptIndex = SchemaChecks.RequireText(inputSchema, parent.PromptColumnName, "Prompt").Index;
                columns.Add(new(GeneratedTextColumnName, TextDataViewType.Instance));
            }
            AddedColumns = columns;
        }

        public override IReadOnlyList<DataViewSchema.DetachedColumn> AddedColumns { get; }

        public override IEnumerable<int> GetInputDependencies(Func<int, bool> isAddedColumnActive)
        {
            if (Enumerable.Range(0, 4).Any(isAddedColumnActive)) yield return tokenIndex;
            if (promptIndex >= 0 && isAddedColumnActive(4)) yield return promptIndex;
        }

        public override Delegate?[] CreateGetters(DataViewRow input, Func<int, bool> isAddedColumnActive)
        {
            var getters = new Delegate?[AddedColumns.Count];
            if (Enumerable.Range(0, 4).Any(isAddedColumnActive))
            {
                Func<int[]> readTokens;
                if (tokensAreText)
                {
                    var textGetter = input.GetGetter<ReadOnlyMemory<char>>(input.Schema[tokenIndex]);
                    ReadOnlyMemory<char> text = default;
                    readTokens = () =>
                    {
                        textGetter(ref text);
                        return parent.Tokenizer.Encode(text.ToString());
                    };
                }
                else
                {
                    var tokenGetter = input.GetGetter<VBuffer<int>>(input.Schema[tokenIndex]);
                    VBuffer<int> buffer = default;
                    readTokens = () =>
                    {
                        tokenGetter(ref buffer);
                        return buffer.DenseValues().ToArray();
                    };
                }
                int[]? cachedTokens = null;
                (double Sum, long Correct, long Tokens) cached = default;
                (double Sum, long Correct, long Tokens) Current()
                {
                    int[] tokens = readTokens();
                    if (cachedTokens == null || !cachedTokens.AsSpan().SequenceEqual(tokens))
                    {
                        cached = parent.ScoreTokens(tokens);
                        cachedTokens = tokens;
                    }
                    return cached;
                }
                getters[0] = (ValueGetter<float>)((ref float v) => { var s = Current(); v = s.Tokens == 0 ? float.NaN : (float)(s.Sum / s.Tokens); });
                getters[1] = (ValueGetter<float>)((ref float v) => { var s = Current(); v = s.Tokens == 0 ? float.NaN : (float)Math.Exp(s.Sum / s.Tokens); });
                getters[2] = (ValueGetter<float>)((ref float v) => v = Current().Tokens);
                getters[3] = (ValueGetter<float>)((ref float v) => { var s = Current(); v = s.Tokens == 0 ? float.NaN : (float)s.Correct / s.Tokens; });
            }
            if (promptIndex >= 0 && isAddedColumnActive(4))
            {
                var promptGetter = input.GetGetter<ReadOnlyMemory<char>>(input.Schema[promptIndex]);
                ReadOnlyMemory<char> prompt = default;
                string? cachedPrompt = null;
                string cachedText = "";
                getters[4] = (ValueGetter<ReadOnlyMemory<char>>)((ref ReadOnlyMemory<char> v) =>
                {
                    promptGetter(ref prompt);
                    string text = prompt.ToString();
                    if (cachedPrompt != text)
                    {
                        cachedText = parent.Generate(text);
                        cachedPrompt = text;
                    }
                    v = cachedText.AsMemory();
                });
            }
            return getters;
        }
    }
}
