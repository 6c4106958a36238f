using Microsoft.ML;

namespace MLNet.MoE;

/// <summary>
/// The settings every language-model transformer saves first in its model-zip entry, whatever its backend: the scored
/// column, the prompt column, the context length and the generation options.
/// </summary>
/// <param name="TokenColumnName">The scored column.</param>
/// <param name="PromptColumnName">The prompt column, or null.</param>
/// <param name="ContextLength">Tokens per scoring window and the generation context.</param>
/// <param name="Generation">How generated text is produced by default.</param>
internal sealed record LanguageModelHeader(string TokenColumnName, string? PromptColumnName, int ContextLength, GenerationOptions Generation)
{
    /// <summary>Writes the header after the version info.</summary>
    public void Write(ModelSaveContext ctx)
    {
        ctx.SaveNonEmptyString(TokenColumnName);
        ctx.SaveStringOrNull(PromptColumnName);
        ctx.Writer.Write(ContextLength);
        GenerationOptionsFormat.Write(ctx.Writer, Generation);
    }

    /// <summary>Reads a header written by <see cref="Write"/>; a context length below 2 is refused as a corrupt file.</summary>
    public static LanguageModelHeader Read(ModelLoadContext ctx)
    {
        string tokenColumn = ctx.LoadNonEmptyString();
        string? promptColumn = ctx.LoadStringOrNull();
        int contextLength = ctx.Reader.ReadInt32();
        if (contextLength < 2) throw new InvalidDataException($"The language model's saved context length ({contextLength}) is invalid: the model file is corrupt.");
        return new LanguageModelHeader(tokenColumn, promptColumn, contextLength, GenerationOptionsFormat.Read(ctx.Reader));
    }
}
