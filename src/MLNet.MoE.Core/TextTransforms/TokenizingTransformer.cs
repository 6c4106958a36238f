using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNet.MoE;

[assembly: LoadableClass(typeof(TokenizingTransformer), null, typeof(SignatureLoadModel), "MoE Tokenizer", TokenizingTransformer.LoaderSignature)]

namespace MLNet.MoE;

/// <summary>
/// Maps a text column to a variable-length vector of Int32 token ids. A missing (empty) text gives an empty vector.
/// Saved inside the model zip with its tokenizer's full state (vocabulary and merges, not file paths).
/// </summary>
public sealed class TokenizingTransformer : ITransformer, ICanSaveModel
{
    internal const string LoaderSignature = "MLNetMoETokenizer";
    private const string ModelSignature = "MOETOKNZ";
    private const uint Version = 0x00010001;
    private const string TokenizerStream = "Tokenizer.bin";

    private readonly IHostEnvironment env;

    internal TokenizingTransformer(IHostEnvironment env, string outputColumnName, string inputColumnName, MoeTokenizer tokenizer)
    {
        this.env = env;
        OutputColumnName = outputColumnName;
        InputColumnName = inputColumnName;
        Tokenizer = tokenizer;
    }

    /// <summary>The token-id column written.</summary>
    public string OutputColumnName { get; }

    /// <summary>The text column read.</summary>
    public string InputColumnName { get; }

    /// <summary>The tokenizer.</summary>
    public MoeTokenizer Tokenizer { get; }

    /// <summary>Always true: the transformer maps each row independently.</summary>
    public bool IsRowToRowMapper => true;

    /// <summary>The input schema plus the token-id column.</summary>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => new Mapper(this, inputSchema).OutputSchema;

    /// <summary>A row-to-row mapper (used by PredictionEngine).</summary>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => new MappedRowToRowMapper(new Mapper(this, inputSchema));

    /// <summary>Adds the token-id column, lazily.</summary>
    public IDataView Transform(IDataView input) => new MappedDataView(input, new Mapper(this, input.Schema));

    void ICanSaveModel.Save(ModelSaveContext ctx)
    {
        ctx.CheckAtModel();
        ctx.SetVersionInfo(ModelVersions.Create(typeof(TokenizingTransformer), ModelSignature, Version, LoaderSignature));
        ctx.SaveNonEmptyString(OutputColumnName);
        ctx.SaveNonEmptyString(InputColumnName);
        byte[] state = Tokenizer.Serialize();
        ModelStreams.WriteBlock(ctx, TokenizerStream, state);
    }

    private static TokenizingTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        ctx.CheckAtModel(ModelVersions.Create(typeof(TokenizingTransformer), ModelSignature, Version, LoaderSignature));
        ZipEntryIntegrity.Verify(ctx);
        string output = ctx.LoadNonEmptyString();
        string input = ctx.LoadNonEmptyString();
        MoeTokenizer? tokenizer = null;
        if (!ctx.TryLoadBinaryStream(TokenizerStream, r => tokenizer = MoeTokenizer.Deserialize(ModelStreams.ReadBlock(r, TokenizerStream))) || tokenizer == null)
            throw new InvalidDataException($"The model's tokenizer transform has no '{TokenizerStream}' entry: the model file is incomplete.");
        return new TokenizingTransformer(env, output, input, tokenizer);
    }

    private sealed class Mapper : ColumnMapper
    {
        private readonly TokenizingTransformer parent;
        private readonly int inputIndex;

        public Mapper(TokenizingTransformer parent, DataViewSchema inputSchema) : base(inputSchema)
        {
            this.parent = parent;
            inputIndex = SchemaChecks.RequireText(inputSchema, parent.InputColumnName, "Input").Index;
            AddedColumns = new[]
            {
                new DataViewSchema.DetachedColumn(parent.OutputColumnName, new VectorDataViewType(NumberDataViewType.Int32), TokenizerAnnotation.Create(parent.Tokenizer)),
            };
        }

        public override IReadOnlyList<DataViewSchema.DetachedColumn> AddedColumns { get; }

        public override IEnumerable<int> GetInputDependencies(Func<int, bool> isAddedColumnActive)
            => isAddedColumnActive(0) ? new[] { inputIndex } : Array.Empty<int>();

        public override Delegate?[] CreateGetters(DataViewRow input, Func<int, bool> isAddedColumnActive)
        {
            if (!isAddedColumnActive(0)) return new Delegate?[1];
            var textGetter = input.GetGetter<ReadOnlyMemory<char>>(input.Schema[inputIndex]);
            ReadOnlyMemory<char> text = default;
            ValueGetter<VBuffer<int>> getter = (ref VBuffer<int> value) =>
            {
                textGetter(ref text);
                int[] ids = text.IsEmpty ? Array.Empty<int>() : parent.Tokenizer.Encode(text.ToString());
                var editor = VBufferEditor.Create(ref value, ids.Length);
                ids.CopyTo(editor.Values);
                value = editor.Commit();
            };
            return new Delegate?[] { getter };
        }
    }
}
