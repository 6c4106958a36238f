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
/// A trained Mixture-of-Experts text classifier in an ML.NET pipeline, run by TorchSharp. Its columns and encoding are
/// those of <see cref="TextClassificationTransformerBase"/>: <c>PredictedLabel</c> (a key of the label's key type,
/// carrying the label's key values) and <c>Score</c> (the class probabilities, one slot per class, named after the key
/// values). Saved in the model zip with its config, weights, tokenizer and label key values. An ensemble
/// (<c>EnsembleSize</c> above 1) holds several classifiers of one architecture and scores the mean of their probabilities.
/// </summary>
public sealed class MoeTextClassificationTransformer : TextClassificationTransformerBase
{
    internal const string LoaderSignature = "MLNetMoETextClassifier";
    private const string ModelSignature = "MOETXTCL";
    // 0x00010004: the SHA-256 of the saved settings, the tokenizer entry and the config entry follow the label key values,
    // checked at load. 0x00010003: the number of ensemble members follows the head's hidden size; member m > 1 has its
    // own weights entry. 0x00010002: the head's hidden size follows the dropout rate. 0x00010001 (no hidden layer) still loads.
    // 0x00010005: the wide branch's n-gram buckets follow the number of members.
    private const uint Version = 0x00010005;
    private const uint DigestVersion = 0x00010004;
    private const uint EnsembleVersion = 0x00010003;
    private const uint HiddenHeadVersion = 0x00010002;
    private const uint FirstVersion = 0x00010001;
    private const int MinMaxLength = 4;
    private const int MaxHeadHiddenSize = 65536;
    private const int MaxMembers = 16;
    private const int MaxNgramBuckets = MoeTextClassificationOptions.MaxNgramBuckets;
    private const string ConfigStream = "Config.json";
    private const string WeightsStream = "Weights.bin";
    private const string TokenizerStream = "Tokenizer.bin";

    internal MoeTextClassificationTransformer(IReadOnlyList<MoeTextClassifier> members, MoeTokenizer tokenizer, TextClassificationSettings settings,
        LabelKeyValues? keyValues, TextClassificationTrainingSummary? summary)
        : base(tokenizer, settings, keyValues, FirstMember(members, settings).Backbone.Config.VocabSize)
    {
        Members = members.ToList();
        TrainingSummary = summary;
        foreach (var member in Members) member.eval();
    }

    /// <summary>The TorchSharp classifier (backbone and head); of an ensemble, its first member.</summary>
    internal MoeTextClassifier Model => Members[0];

    /// <summary>The classifiers whose probabilities are averaged: one, or an ensemble's members in order.</summary>
    internal IReadOnlyList<MoeTextClassifier> Members { get; }

    /// <summary>Classifiers whose probabilities are averaged: 1, or the ensemble's size.</summary>
    public int EnsembleSize => Members.Count;

    /// <summary>What training measured (null for a loaded model).</summary>
    public TextClassificationTrainingSummary? TrainingSummary { get; }

    private static MoeTextClassifier FirstMember(IReadOnlyList<MoeTextClassifier> members, TextClassificationSettings settings)
    {
        if (members.Count == 0) throw new ArgumentException("A text classifier needs at least one model.", nameof(members));
        if (members.Any(m => m.ClassCount != settings.ClassCount))
            throw new ArgumentException($"Every classifier of the transformer must have {settings.ClassCount} classes.", nameof(members));
        if (members.Any(m => m.NgramBuckets != settings.NgramBuckets))
            throw new ArgumentException($"Every classifier of the transformer must have {settings.NgramBuckets} n-gram buckets.", nameof(members));
        int positions = members[0].Backbone.Config.MaxPositionEmbeddings;
        if (settings.MaxLength < MinMaxLength || settings.MaxLength > positions)
            throw new ArgumentOutOfRangeException(nameof(settings), settings.MaxLength, $"maxLength must be between {MinMaxLength} and the backbone's max_position_embeddings ({positions}).");
        return members[0];
    }

    private protected override float[][] Probabilities(IReadOnlyList<int[]> sequences, IReadOnlyList<int[]>? ngrams, int batchSize)
    {
        using var scope = torch.NewDisposeScope();
        return TextClassificationBatches.EnsembleProbabilities(Members, sequences, ngrams, batchSize, Tokenizer.EndOfTextId);
    }

    private protected override void DisposeModel()
    {
        foreach (var member in Members) member.Dispose();
    }

    private protected override void Save(ModelSaveContext ctx)
    {
        ctx.CheckAtModel();
        ctx.SetVersionInfo(ModelVersions.Create(typeof(MoeTextClassificationTransformer), ModelSignature, Version, LoaderSignature));
        Settings.Write(ctx);
        ctx.Writer.Write((int)Model.Pooling);
        ctx.Writer.Write(Model.DropoutRate);
        ctx.Writer.Write(Model.HeadHiddenSize);
        ctx.Writer.Write(Members.Count);
        ctx.Writer.Write(Settings.NgramBuckets);
        LabelKeyValues.Write(ctx.Writer, KeyValues);
        byte[] config = Encoding.UTF8.GetBytes(Model.Backbone.Config.ToJson());
        byte[] tokenizer = Tokenizer.Serialize();
        ctx.Writer.Write(SettingsDigest(Settings, Model.Pooling, Model.DropoutRate, Model.HeadHiddenSize, Members.Count, KeyValues));
        ctx.Writer.Write(SHA256.HashData(tokenizer));
        ctx.Writer.Write(SHA256.HashData(config));
        ModelStreams.WriteBlock(ctx, ConfigStream, config);
        ModelStreams.WriteBlock(ctx, TokenizerStream, tokenizer);
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
        uint written = ctx.Header.ModelVerWritten;
        var settings = TextClassificationSettings.Read(ctx);
        int classCount = settings.ClassCount;
        var pooling = (TextPooling)ctx.Reader.ReadInt32();
        double dropout = ctx.Reader.ReadDouble();
        int headHiddenSize = written >= HiddenHeadVersion ? ctx.Reader.ReadInt32() : 0;
        int memberCount = written >= EnsembleVersion ? ctx.Reader.ReadInt32() : 1;
        int ngramBuckets = written >= Version ? ctx.Reader.ReadInt32() : 0;
        if (!(ngramBuckets >= 0 && ngramBuckets <= MaxNgramBuckets))
            throw new InvalidDataException($"The text classifier's saved n-gram buckets ({ngramBuckets}) are outside 0 … {MaxNgramBuckets:N0}: the model file is corrupt.");
        settings = settings with { NgramBuckets = ngramBuckets };
        // Written so that NaN fails every range.
        if (!(settings.MaxLength >= MinMaxLength && settings.MaxLength <= ModelSizeLimits.Default.Positions))
            throw new InvalidDataException($"The text classifier's saved maximum length ({settings.MaxLength}) is outside {MinMaxLength} … {ModelSizeLimits.Default.Positions:N0}: the model file is corrupt.");
        if (!(Enum.IsDefined(pooling) && dropout >= 0 && dropout < 1 && headHiddenSize >= 0 && headHiddenSize <= MaxHeadHiddenSize && memberCount >= 1 && memberCount <= MaxMembers))
            throw new InvalidDataException("The text classifier's saved settings are invalid: the model file is corrupt.");
        var keyValues = LabelKeyValues.Read(ctx.Reader, classCount);
        byte[]? tokenizerDigest = null, configDigest = null;
        if (written >= DigestVersion)
        {
            byte[] settingsDigest = ctx.Reader.ReadBytes(32);
            tokenizerDigest = ctx.Reader.ReadBytes(32);
            configDigest = ctx.Reader.ReadBytes(32);
            if (!CryptographicOperations.FixedTimeEquals(settingsDigest, SettingsDigest(settings, pooling, dropout, headHiddenSize, memberCount, keyValues)))
                throw new InvalidDataException("The text classifier's saved settings (columns, maximum length, classes, pooling, head, members, label values) do not match the SHA-256 recorded at save: the model file is corrupt.");
        }
        var (config, tokenizer) = SavedModelEntries.Read(ctx, ConfigStream, configDigest, TokenizerStream, tokenizerDigest, "text classifier");
        // What the transformer's constructor would refuse, refused as the damaged file it is, before any member exists.
        if (settings.MaxLength > config.MaxPositionEmbeddings)
            throw new InvalidDataException($"The text classifier's saved maximum length ({settings.MaxLength}) exceeds its backbone config's max_position_embeddings ({config.MaxPositionEmbeddings}): the model file is corrupt.");
        if (tokenizer.VocabularySize > config.VocabSize)
            throw new InvalidDataException($"The text classifier's tokenizer has {tokenizer.VocabularySize} ids, more than its backbone config's vocab_size ({config.VocabSize}): the model file is corrupt.");
        // Every member's weights: CRC-32, names and shapes against the config, in one pass, before any member is built.
        var layout = MoeTextClassifier.TensorLayout(config, classCount, headHiddenSize, ngramBuckets);
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
                var model = new MoeTextClassifier(new MoeCausalLM(config), classCount, pooling, dropout, headHiddenSize: headHiddenSize, ngramBuckets: ngramBuckets);
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
        return new MoeTextClassificationTransformer(members, tokenizer, settings, keyValues, null);
    }

    /// <summary>
    /// The SHA-256 of the settings saved in the header (columns, maximum length, classes, pooling, dropout rate, the head's
    /// hidden size, members, label key values), from format 0x00010004: an edit that keeps the zip valid is refused
    /// rather than changing the scores.
    /// </summary>
    private static byte[] SettingsDigest(TextClassificationSettings settings, TextPooling pooling, double dropout, int headHiddenSize, int members, LabelKeyValues? keyValues)
    {
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(settings.TextColumnName);
            writer.Write(settings.SecondTextColumnName ?? "");
            writer.Write(settings.SecondTextColumnName != null);
            writer.Write(settings.PredictedLabelColumnName);
            writer.Write(settings.ScoreColumnName);
            writer.Write(settings.MaxLength);
            writer.Write(settings.ClassCount);
            writer.Write((int)pooling);
            writer.Write(dropout);
            writer.Write(headHiddenSize);
            writer.Write(members);
            // From 0x00010005; a classifier without the branch hashes as before, so older digests still check.
            if (settings.NgramBuckets > 0) writer.Write(settings.NgramBuckets);
            LabelKeyValues.Write(writer, keyValues);
        }
        return SHA256.HashData(buffer.ToArray());
    }
}
