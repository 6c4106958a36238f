
namespace MLNet.MoE.Samples.ScoringService.Backends;

/// <summary>
/// Turns the tokens generated so far into the new text to send to a streaming client. A byte-level token may end inside
/// a UTF-8 character, so a trailing replacement character is held back until the next token completes it.
/// </summary>
internal sealed class GeneratedTextStream
{
    private readonly MoeTokenizer tokenizer;
    private readonly Action<string>? onText;
    private int emitted;

    public GeneratedTextStream(MoeTokenizer tokenizer, Action<string>? onText)
    {
        this.tokenizer = tokenizer;
        this.onText = onText;
    }

    /// <summary>Sends the text of <paramref name="generated"/> not sent yet, up to any incomplete character.</summary>
    public void Update(IReadOnlyList<int> generated)
    {
        if (onText == null) return;
        string text = tokenizer.Decode(generated);
        int ready = text.Length;
        while (ready > emitted && text[ready - 1] == '\uFFFD') ready--;
        if (ready > emitted)
        {
            onText(text[emitted..ready]);
            emitted = ready;
        }
    }

    /// <summary>
    /// Runs a generation for <paramref name="prompt"/>: <paramref name="generate"/> receives the request's generation
    /// options and a step callback (stream the new text, stop when cancelled) and returns the generated ids.
    /// </summary>
    public static GenerateResult Generate(PreparedPrompt prompt, MoeTokenizer tokenizer, Action<string>? onText, CancellationToken cancellation,
        Func<GenerationOptions, Func<IReadOnlyList<int>, bool>, int[]> generate)
    {
        var request = prompt.Request;
        var stream = new GeneratedTextStream(tokenizer, onText);
        bool cancelled = false;
        var options = new GenerationOptions
        {
            MaxNewTokens = request.MaxTokens,
            Temperature = request.Temperature,
            TopK = request.TopK,
            TopP = request.TopP,
            Seed = prompt.Seed,
            StopAtEndOfText = true,
        };
        int[] output = generate(options, generated =>
        {
            stream.Update(generated);
            return cancelled = cancellation.IsCancellationRequested;
        });
        string reason = cancelled ? "cancelled" : output.Length < request.MaxTokens ? "end_of_text" : "length";
        return new GenerateResult(stream.Finish(output), output.Length, reason);
    }

    /// <summary>Sends what is left of the final text and returns it whole.</summary>
    public string Finish(IReadOnlyList<int> output)
    {
        string final = tokenizer.Decode(output);
        if (onText != null && final.Length > emitted) onText(final[emitted..]);
        return final;
    }
}
