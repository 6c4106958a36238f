using System.Security.Cryptography;
using System.Text;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNet.MoE;
using TorchSharp;
using static TorchSharp.torch;

[assembly: LoadableClass(typeof(MoeTextClassificationTransformer), null, typeof(SignatureLoadModel), "MoE Text Classifier", MoeTextClassificationTransformer.LoaderSignature)]

namespace MLNet.MoE;

/// <summary>
/// A trained Mixture-of-Experts text classifier in an ML.NET pipeline. For each row it adds <c>PredictedLabel</c>
/// (a key of the label's key type, carrying the label's key values) and <c>Score</c> (the class probabilities, a
/// vector of Single with one slot per class, named after the key values). The label column is not read, so the
/// transformer scores unlabelled rows and works in a <c>PredictionEngine</c>. Saved in the model zip with its config,
/// weights, tokenizer and label key values. An ensemble (<c>EnsembleSize</c> above 1) holds several classifiers of one
/// architecture and scores the mean of their probabilities.
/// </summary>
public sealed class MoeTextClassificationTransformer : ITransformer, ICanSaveModel, IDisposable
{
    internal const string LoaderSignature = "MLNetMoETextClassifier";
    private const string ModelSignature = "MOETXTCL";
    // 0x00010004: the SHA-256 of the settings, the tokenizer entry and the config entry follow the label key values,
    // checked at load. 0x00010003: the number of ensemble members follows the head's hidden size; member m > 1 has its
    // own weights entry. 0x00010002: the head's hidden size follows the dropout rate. 0x00010001 (no hidden layer) still loads.
    private const uint Version = 0x00010004;
    private const uint EnsembleVersion = 0x00010003;
    private const uint HiddenHeadVersion = 0x00010002;
    private const uint FirstVersion = 0x00010001;
    private const int MaxMembers = 16;
    private const int MinMaxLength = 4;
    private const int MaxHeadHiddenSize = 65536;
    private const string ConfigStream = "Config.json";
    private const string WeightsStream = "Weights.bin";
    private const string TokenizerStream = "Tokenizer.bin";

    private readonly IHostEnvironment env;
    private readonly Device device;
    private readonly LabelKeyValues? keyValues;

    internal MoeTextClassificationTransformer(IHostEnvironment env, IReadOnlyList<MoeTextClassifier> members, MoeTokenizer tokenizer, string textColumnName,
        string? secondTextColumnName, string predictedLabelColumnName, string scoreColumnName, int maxLength, LabelKeyValues? keyValues,
        Device device, TextClassificationTrainingSummary? summary)
    {
        this.env = env;
        this.device = device;
        this.keyValues = keyValues;
        if (members.Count == 0) throw new ArgumentException("A text classifier needs at least one model.", nameof(members));
        int positions = members[0].Backbone.Config.MaxPositionEmbeddings;
        if (maxLength < MinMaxLength || maxLength > positions)
            throw new ArgumentOutOfRangeException(nameof(maxLength), maxLength, $"maxLength must be between {MinMaxLength} and the backbone's max_position_embeddings ({positions}).");
        Members = members.ToList();
        Tokenizer = tokenizer;
        TextColumnName = textColumnName;
        SecondTextColumnName = secondTextColumnName;
        PredictedLabelColumnName = predictedLabelColumnName;
        ScoreColumnName = scoreColumnName;
        MaxLength = maxLength;
        TrainingSummary = summary;
        foreach (var member in Members) member.eval();
    }

    /// <summary>The TorchSharp classifier (backbone and head); of an ensemble, its first member.</summary>
    internal MoeTextClassifier Model => Members[0];

    /// <summary>The classifiers whose probabilities are averaged: one, or an ensemble's members in order.</summary>
    internal IReadOnlyList<MoeTextClassifier> Members { get; }

    /// <summary>Classifiers whose probabilities are averaged: 1, or the ensemble's size.</summary>
    public int EnsembleSize => Members.Count;

    /// <summary>The tokenizer of the backbone.</summary>
    public MoeTokenizer Tokenizer { get; }

    /// <summary>The text column read.</summary>
    public string TextColumnName { get; }

    /// <summary>The second text column read, or null.</summary>
    public string? SecondTextColumnName { get; }

    /// <summary>The predicted-label column added.</summary>
    public string PredictedLabelColumnName { get; }

    /// <summary>The class-probability column added.</summary>
    public string ScoreColumnName { get; }

    /// <summary>Tokens per row at most.</summary>
    public int MaxLength { get; }

    /// <summary>The label's key values as text, in score order, or null when the label had none.</summary>
    public IReadOnlyList<string>? ClassNames => keyValues?.AsText();

    /// <summary>Number of classes.</summary>
    public int ClassCount => Model.ClassCount;

    /// <summary>What training measured (null for a loaded model).</summary>
    public TextClassificationTrainingSummary? TrainingSummary { get; }

    /// <summary>Always true: each row is mapped on its own.</summary>
    public bool IsRowToRowMapper => true;

    /// <summary>The input schema plus PredictedLabel and Score.</summary>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => new Mapper(this, inputSchema).OutputSchema;

    /// <summary>A row-to-row mapper (used by PredictionEngine).</summary>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => new MappedRowToRowMapper(new Mapper(this, inputSchema));

    /// <summary>Adds the output columns, computed lazily row by row.</summary>
    public IDataView Transform(IDataView input) => new MappedDataView(input, new Mapper(this, input.Schema));

    /// <summary>The token ids the classifier reads for a row (end-of-text tokens included, truncated to <see cref="MaxLength"/>).</summary>
    public int[] Encode(string text, string? secondText = null) => Encode(text, secondText, out _);

    /// <summary>The token ids the classifier reads for a row, and whether the row was longer than <see cref="MaxLength"/> and cut.</summary>
    public int[] Encode(string text, string? secondText, out bool truncated)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (SecondTextColumnName != null && secondText == null) throw new ArgumentNullException(nameof(secondText), $"The classifier reads two texts (columns '{TextColumnName}' and '{SecondTextColumnName}').");
        return TextClassificationTokens.Encode(Tokenizer, text, SecondTextColumnName != null ? secondText : null, MaxLength, out truncated);
    }

    /// <summary>Class probabilities of token sequences from <see cref="Encode(string, string?)"/>, scored in batches of <paramref name="batchSize"/> (right-padded).</summary>
    public float[][] PredictProbabilities(IReadOnlyList<int[]> sequences, int batchSize = 32)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "The batch size must be at least 1.");
        if (sequences.Count == 0) return Array.Empty<float[]>();
        foreach (var s in sequences)
        {
            if (s == null || s.Length == 0) throw new ArgumentException("Every sequence needs at least one token (use Encode).", nameof(sequences));
            foreach (int id in s)
            {
                if ((uint)id >= (uint)Model.Backbone.Config.VocabSize)
                    throw new ArgumentOutOfRangeException(nameof(sequences), $"Token id {id} is outside the model's vocabulary (0..{Model.Backbone.Config.VocabSize - 1}).");
            }
        }
        using var scope = torch.NewDisposeScope();
        return TextClassificationBatches.EnsembleProbabilities(Members, sequences, batchSize, Tokenizer.EndOfTextId);
    }

    /// <summary>Class probabilities of one row's text(s).</summary>
    public float[] PredictProbabilities(string text, string? secondText = null) => PredictProbabilities(new[] { Encode(text, secondText) })[0];

    /// <summary>Frees the models' native memory.</summary>
    public void Dispose()
    {
        foreach (var member in Members) member.Dispose();
    }

    void ICanSaveModel.Save(ModelSaveContext ctx)
    {
        ctx.CheckAtModel();
        ctx.SetVersionInfo(ModelVersions.Create(typeof(MoeTextClassificationTransformer), ModelSignature, Version, LoaderSignature));
        ctx.SaveNonEmptyString(TextColumnName);
        ctx.SaveStringOrNull(SecondTextColumnName);
        ctx.SaveNonEmptyString(PredictedLabelColumnName);
        ctx.SaveNonEmptyString(ScoreColumnName);
        var settings = new SavedSettings(MaxLength, ClassCount, Model.Pooling, Model.DropoutRate, Model.HeadHiddenSize, Members.Count, keyValues);
        settings.Write(ctx.Writer);
        byte[] config = Encoding.UTF8.GetBytes(Model.Backbone.Config.ToJson());
        byte[] tokenizer = Tokenizer.Serialize();
        ctx.Writer.Write(settings.Digest());
        ctx.Writer.Write(SHA256.HashData(tokenizer));
        ctx.Writer.Write(SHA256.HashData(config));
        ctx.SaveBinaryStream(ConfigStream, w =>
        {
            w.Write(config.Length);
            w.Write(config);
        });
        ctx.SaveBinaryStream(TokenizerStream, w =>
        {
            w.Write(tokenizer.Length);
            w.Write(tokenizer);
        });
        for (int m = 0; m < Members.Count; m++)
        {
            var member = Members[m];
            ctx.SaveBinaryStream(WeightsEntry(m), w => ModelWeightsFormat.Write(w, member));
        }
    }

    /// <summary>The zip entry of member <paramref name="index"/>'s weights (0-based): <c>Weights.bin</c> for the first, as in a single classifier.</summary>
    private static string WeightsEntry(int index) => index == 0 ? WeightsStream : $"Weights.{index + 1}.bin";

    private static MoeTextClassificationTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        ctx.CheckAtModel(ModelVersions.Create(typeof(MoeTextClassificationTransformer), ModelSignature, Version, LoaderSignature, FirstVersion));
        // The weights entries are checked with their layout below, one pass each.
        ZipEntryIntegrity.Verify(ctx, Enumerable.Range(0, MaxMembers).Select(WeightsEntry).ToArray());
        string textColumn = ctx.LoadNonEmptyString();
        string? secondColumn = ctx.LoadStringOrNull();
        string predictedColumn = ctx.LoadNonEmptyString();
        string scoreColumn = ctx.LoadNonEmptyString();
        var settings = SavedSettings.Read(ctx.Reader, ctx.Header.ModelVerWritten);
        byte[]? tokenizerDigest = null, configDigest = null;
        if (ctx.Header.ModelVerWritten >= Version)
        {
            byte[] settingsDigest = ctx.Reader.ReadBytes(32);
            tokenizerDigest = ctx.Reader.ReadBytes(32);
            configDigest = ctx.Reader.ReadBytes(32);
            if (!CryptographicOperations.FixedTimeEquals(settingsDigest, settings.Digest()))
                throw new InvalidDataException("The text classifier's saved settings (maximum length, classes, pooling, head, members, label values) do not match the SHA-256 recorded at save: the model file is corrupt.");
        }
        MoeModelConfig? config = null;
        MoeTokenizer? tokenizer = null;
        if (!ctx.TryLoadBinaryStream(ConfigStream, r => config = ReadConfig(ModelStreams.ReadBlock(r, ConfigStream), configDigest)) || config == null)
            throw new InvalidDataException($"The text classifier has no '{ConfigStream}' entry: the model file is incomplete.");
        if (!ctx.TryLoadBinaryStream(TokenizerStream, r => tokenizer = ReadTokenizer(ModelStreams.ReadBlock(r, TokenizerStream), tokenizerDigest)) || tokenizer == null)
            throw new InvalidDataException($"The text classifier has no '{TokenizerStream}' entry: the model file is incomplete.");
        // What the transformer's constructor would refuse, refused as the damaged file it is, before any member exists.
        if (settings.MaxLength > config.MaxPositionEmbeddings)
            throw new InvalidDataException($"The text classifier's saved maximum length ({settings.MaxLength}) exceeds its backbone config's max_position_embeddings ({config.MaxPositionEmbeddings}): the model file is corrupt.");
        if (tokenizer.VocabularySize > config.VocabSize)
            throw new InvalidDataException($"The text classifier's tokenizer has {tokenizer.VocabularySize} ids, more than its backbone config's vocab_size ({config.VocabSize}): the model file is corrupt.");
        int classCount = settings.ClassCount, headHiddenSize = settings.HeadHiddenSize, memberCount = settings.MemberCount;
        var pooling = settings.Pooling;
        double dropout = settings.Dropout;
        // Every member's weights: CRC-32, names and shapes against the config, in one pass, before any member is built.
        var layout = MoeTextClassifier.TensorLayout(config, classCount, headHiddenSize);
        for (int m = 0; m < memberCount; m++)
        {
            string entry = WeightsEntry(m);
            if (!ZipEntryIntegrity.VerifyEntry(ctx, entry, r => ModelWeightsFormat.CheckLayout(r, layout, entry)))
                throw new InvalidDataException($"The text classifier has no '{entry}' entry: the model file is incomplete.");
        }
        Device device = DeviceSelector.Select(env, ComputeDevice.Auto, null);
        var members = new List<MoeTextClassifier>();
        try
        {
            for (int m = 0; m < memberCount; m++)
            {
                var model = new MoeTextClassifier(new MoeCausalLM(config), classCount, pooling, dropout, headHiddenSize: headHiddenSize);
                members.Add(model);
                string entry = WeightsEntry(m);
                if (!ctx.TryLoadBinaryStream(entry, r => ModelWeightsFormat.Read(r, model, entry)))
                    throw new InvalidDataException($"The text classifier has no '{entry}' entry: the model file is incomplete.");
                model.to(device);
            }
        }
        catch
        {
            foreach (var model in members) model.Dispose();
            throw;
        }
        return new MoeTextClassificationTransformer(env, members, tokenizer, textColumn, secondColumn, predictedColumn, scoreColumn, settings.MaxLength, settings.KeyValues, device, null);
    }

    /// <summary>The saved backbone config, refused when it is not the one the classifier was saved with.</summary>
    private static MoeModelConfig ReadConfig(byte[] bytes, byte[]? recordedDigest)
    {
        RequireRecordedDigest(bytes, recordedDigest, ConfigStream, "backbone config");
        return MoeModelConfig.FromJson(Encoding.UTF8.GetString(bytes), "model zip: " + ConfigStream);
    }

    /// <summary>The saved tokenizer, refused when it is not the one the classifier was saved with (a swapped or edited entry).</summary>
    private static MoeTokenizer ReadTokenizer(byte[] bytes, byte[]? recordedDigest)
    {
        RequireRecordedDigest(bytes, recordedDigest, TokenizerStream, "tokenizer");
        return MoeTokenizer.Deserialize(bytes);
    }

    /// <summary>Refuses an entry whose SHA-256 differs from the one the header recorded at save (none recorded: older zips).</summary>
    private static void RequireRecordedDigest(byte[] bytes, byte[]? recordedDigest, string entry, string what)
    {
        if (recordedDigest != null && !CryptographicOperations.FixedTimeEquals(recordedDigest, SHA256.HashData(bytes)))
            throw new InvalidDataException($"The text classifier's model entry '{entry}' is not the {what} this classifier was saved with (its SHA-256 differs from the one recorded at save): the entry was replaced or damaged.");
    }

    /// <summary>
    /// The classifier's settings as saved after the column names: maximum length, classes, pooling, dropout rate, the head's
    /// hidden size, the number of members and the label key values. From format 0x00010004 their SHA-256 (of this
    /// serialization) is saved too, so an edit that keeps the zip valid is refused rather than changing the scores.
    /// </summary>
    private sealed record SavedSettings(int MaxLength, int ClassCount, TextPooling Pooling, double Dropout, int HeadHiddenSize, int MemberCount, LabelKeyValues? KeyValues)
    {
        public void Write(BinaryWriter writer)
        {
            writer.Write(MaxLength);
            writer.Write(ClassCount);
            writer.Write((int)Pooling);
            writer.Write(Dropout);
            writer.Write(HeadHiddenSize);
            writer.Write(MemberCount);
            LabelKeyValues.Write(writer, KeyValues);
        }

        /// <summary>The SHA-256 of <see cref="Write"/>'s bytes.</summary>
        public byte[] Digest()
        {
            using var buffer = new MemoryStream();
            using (var writer = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true)) Write(writer);
            return SHA256.HashData(buffer.ToArray());
        }

        /// <summary>Reads the settings of a zip written in format <paramref name="version"/>; values out of range are refused as a corrupt file.</summary>
        public static SavedSettings Read(BinaryReader reader, uint version)
        {
            int maxLength = reader.ReadInt32();
            int classCount = reader.ReadInt32();
            var pooling = (TextPooling)reader.ReadInt32();
            double dropout = reader.ReadDouble();
            int headHiddenSize = version >= HiddenHeadVersion ? reader.ReadInt32() : 0;
            int memberCount = version >= EnsembleVersion ? reader.ReadInt32() : 1;
            // Written so that NaN fails every range.
            if (!(maxLength >= MinMaxLength && maxLength <= ModelSizeLimits.Default.Positions))
                throw new InvalidDataException($"The text classifier's saved maximum length ({maxLength}) is outside {MinMaxLength} … {ModelSizeLimits.Default.Positions:N0}: the model file is corrupt.");
            if (!(classCount >= 2 && Enum.IsDefined(pooling) && dropout >= 0 && dropout < 1 && headHiddenSize >= 0 && headHiddenSize <= MaxHeadHiddenSize && memberCount >= 1 && memberCount <= MaxMembers))
                throw new InvalidDataException("The text classifier's saved settings are invalid: the model file is corrupt.");
            return new SavedSettings(maxLength, classCount, pooling, dropout, headHiddenSize, memberCount, LabelKeyValues.Read(reader, classCount));
        }
    }

    private sealed class Mapper : ColumnMapper
    {
        private readonly MoeTextClassificationTransformer parent;
        private readonly int textIndex;
        private readonly int secondIndex = -1;

        public Mapper(MoeTextClassificationTransformer parent, DataViewSchema inputSchema) : base(inputSchema)
        {
            this.parent = parent;
            textIndex = SchemaChecks.RequireText(inputSchema, parent.TextColumnName, "Text").Index;
            if (parent.SecondTextColumnName != null) secondIndex = SchemaChecks.RequireText(inputSchema, parent.SecondTextColumnName, "SecondText").Index;
            var predicted = new DataViewSchema.Annotations.Builder();
            var score = new DataViewSchema.Annotations.Builder();
            if (parent.keyValues != null)
            {
                parent.keyValues.AddKeyValues(predicted);
                string[] names = parent.keyValues.AsText();
                score.Add(AnnotationUtils.Kinds.SlotNames, new VectorDataViewType(TextDataViewType.Instance, names.Length),
                    (ValueGetter<VBuffer<ReadOnlyMemory<char>>>)((ref VBuffer<ReadOnlyMemory<char>> v) => new VBuffer<ReadOnlyMemory<char>>(names.Length, names.Select(n => n.AsMemory()).ToArray()).CopyTo(ref v)));
            }
            score.Add(AnnotationUtils.Kinds.ScoreColumnKind, TextDataViewType.Instance, (ValueGetter<ReadOnlyMemory<char>>)((ref ReadOnlyMemory<char> v) => v = AnnotationUtils.Const.ScoreColumnKind.MulticlassClassification.AsMemory()));
            score.Add(AnnotationUtils.Kinds.ScoreValueKind, TextDataViewType.Instance, (ValueGetter<ReadOnlyMemory<char>>)((ref ReadOnlyMemory<char> v) => v = AnnotationUtils.Const.ScoreValueKind.Score.AsMemory()));
            AddedColumns = new List<DataViewSchema.DetachedColumn>
            {
                new(parent.PredictedLabelColumnName, new KeyDataViewType(typeof(uint), parent.ClassCount), predicted.ToAnnotations()),
                new(parent.ScoreColumnName, new VectorDataViewType(NumberDataViewType.Single, parent.ClassCount), score.ToAnnotations()),
            };
        }

        public override IReadOnlyList<DataViewSchema.DetachedColumn> AddedColumns { get; }

        public override IEnumerable<int> GetInputDependencies(Func<int, bool> isAddedColumnActive)
        {
            if (!isAddedColumnActive(0) && !isAddedColumnActive(1)) yield break;
            yield return textIndex;
            if (secondIndex >= 0) yield return secondIndex;
        }

        public override Delegate?[] CreateGetters(DataViewRow input, Func<int, bool> isAddedColumnActive)
        {
            var getters = new Delegate?[2];
            if (!isAddedColumnActive(0) && !isAddedColumnActive(1)) return getters;
            var textGetter = input.GetGetter<ReadOnlyMemory<char>>(input.Schema[textIndex]);
            var secondGetter = secondIndex >= 0 ? input.GetGetter<ReadOnlyMemory<char>>(input.Schema[secondIndex]) : null;
            ReadOnlyMemory<char> text = default, second = default;
            string? cachedText = null, cachedSecond = null;
            float[] cached = Array.Empty<float>();
            float[] Current()
            {
                // Cached by content, not row position: a PredictionEngine reuses one row object for every prediction.
                textGetter(ref text);
                secondGetter?.Invoke(ref second);
                string first = text.ToString();
                string? other = secondGetter != null ? second.ToString() : null;
                if (cachedText == null || first != cachedText || other != cachedSecond)
                {
                    cached = parent.PredictProbabilities(first, other);
                    cachedText = first;
                    cachedSecond = other;
                }
                return cached;
            }
            getters[0] = (ValueGetter<uint>)((ref uint v) =>
            {
                var p = Current();
                int best = 0;
                for (int c = 1; c < p.Length; c++) if (p[c] > p[best]) best = c;
                v = (uint)best + 1;
            });
            getters[1] = (ValueGetter<VBuffer<float>>)((ref VBuffer<float> v) =>
            {
                var p = Current();
                new VBuffer<float>(p.Length, p).CopyTo(ref v);
            });
            return getters;
        }
    }
}
