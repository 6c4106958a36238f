
namespace MLNet.MoE.Samples.ScoringService.Backends;

/// <summary>
/// Serves a TorchSharp-backed <see cref="MoeTextClassificationTransformer"/>: each text becomes its label and class
/// probabilities, a batch in padded forward passes (<see cref="TextClassificationTransformerBase.PredictProbabilities(IReadOnlyList{string}, IReadOnlyList{string}?, int)"/>:
/// the texts, so a classifier with a wide branch of hashed n-grams reads them too).
/// A text longer than the classifier's <see cref="TextClassificationTransformerBase.MaxLength"/> is refused rather than cut,
/// so a client never gets the class of a text it did not send. It does not generate.
/// </summary>
public sealed class TextClassifierBackend : IScoringBackend
{
    private readonly MoeTextClassificationTransformer model;
    private readonly string[] classNames;

    /// <summary>Serves <paramref name="model"/> (owned and disposed by the backend).</summary>
    public TextClassifierBackend(MoeTextClassificationTransformer model, string modelId)
    {
        this.model = model;
        ModelId = modelId;
        classNames = model.ClassNames?.ToArray() ?? Enumerable.Range(0, model.ClassCount).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
    }

    /// <inheritdoc />
    public string Kind => "text-classifier";

    /// <inheritdoc />
    public string ModelId { get; }

    /// <inheritdoc />
    public int ContextLength => model.MaxLength;

    /// <inheritdoc />
    public bool CanGenerate => false;

    /// <inheritdoc />
    public PreparedText Prepare(string text, string field)
    {
        int[] tokens = model.Encode(text, null, out bool truncated);
        if (truncated)
            throw new RequestRejectedException($"{field} is longer than the {ContextLength} tokens (end-of-text tokens included) the classifier reads.");
        return new PreparedText(text, tokens);
    }

    /// <inheritdoc />
    public IReadOnlyList<ScoreResult> ScoreBatch(IReadOnlyList<PreparedText> inputs)
    {
        var probabilities = model.PredictProbabilities(inputs.Select(i => i.Text).ToList(), null, Math.Max(1, inputs.Count));
        return probabilities.Select((p, row) =>
        {
            int best = 0;
            for (int c = 1; c < p.Length; c++) if (p[c] > p[best]) best = c;
            var byClass = new Dictionary<string, double>(p.Length);
            for (int c = 0; c < p.Length; c++) byClass[classNames[c]] = p[c];
            return new ScoreResult(null, null, inputs[row].Tokens.Count, null, classNames[best], byClass);
        }).ToList();
    }

    /// <inheritdoc />
    public PreparedPrompt PreparePrompt(GenerateRequest request) =>
        throw new RequestRejectedException($"The served model ({Kind}) does not generate text.");

    /// <inheritdoc />
    public GenerateResult Generate(PreparedPrompt prompt, Action<string>? onText, CancellationToken cancellation) =>
        throw new RequestRejectedException($"The served model ({Kind}) does not generate text.");

    /// <inheritdoc />
    public void Dispose() => model.Dispose();
}
