using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace MLNet.MoE;

/// <summary>
/// Writes Hugging Face tokenizer files for tokenizers that have an exact Hugging Face form, so that tools outside .NET
/// (transformers' <c>PreTrainedTokenizerFast</c>, ONNX Runtime GenAI's <c>Tokenizer</c>) tokenize as MoeTokenizer does.
/// The byte-level tokenizer becomes a byte-level BPE with the 256 byte symbols as its vocabulary (id = byte value) and
/// no merges, plus <c>&lt;|endoftext|&gt;</c> as id 256. Microsoft.ML.Tokenizers reads these formats but does not write
/// them, hence this small writer.
/// </summary>
internal static class HuggingFaceJsonWriter
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary><c>tokenizer.json</c> of the byte-level tokenizer.</summary>
    public static byte[] ByteLevelTokenizerJson()
    {
        var vocabulary = new JsonObject();
        for (int b = 0; b < 256; b++) vocabulary[ByteLevelAlphabet.ByteToChar[b].ToString()] = b;
        var root = new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = new JsonArray(new JsonObject
            {
                ["id"] = ByteLevelBackend.EndOfTextIdValue,
                ["content"] = ByteLevelBackend.EndOfText,
                ["single_word"] = false,
                ["lstrip"] = false,
                ["rstrip"] = false,
                ["normalized"] = false,
                ["special"] = true,
            }),
            ["normalizer"] = null,
            ["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = true },
            ["post_processor"] = null,
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = true },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE",
                ["dropout"] = null,
                ["unk_token"] = null,
                ["continuing_subword_prefix"] = null,
                ["end_of_word_suffix"] = null,
                ["fuse_unk"] = false,
                ["byte_fallback"] = false,
                ["vocab"] = vocabulary,
                ["merges"] = new JsonArray(),
            },
        };
        return Encoding.UTF8.GetBytes(root.ToJsonString(Indented));
    }

    /// <summary>
    /// <c>tokenizer_config.json</c> for a character-level BPE tokenizer.json (Llama-2, Gemma style): the generic
    /// <c>PreTrainedTokenizerFast</c>, which takes the normalizer, pre-tokenizer and decoder from tokenizer.json as they
    /// are (GPT2TokenizerFast would demand a ByteLevel pre-tokenizer).
    /// </summary>
    public static byte[] FastTokenizerConfigJson(string endOfText, string? unknownToken, int modelMaxLength)
    {
        var root = new JsonObject
        {
            ["tokenizer_class"] = "PreTrainedTokenizerFast",
            ["eos_token"] = endOfText,
            ["add_bos_token"] = false,
            ["add_eos_token"] = false,
            ["model_max_length"] = modelMaxLength,
            ["clean_up_tokenization_spaces"] = false,
        };
        if (unknownToken is not null) root["unk_token"] = unknownToken;
        return Encoding.UTF8.GetBytes(root.ToJsonString(Indented));
    }

    /// <summary><c>tokenizer_config.json</c> for a GPT-2-style byte-level BPE tokenizer whose end-of-text token is <paramref name="endOfText"/>.</summary>
    public static byte[] TokenizerConfigJson(string endOfText, int modelMaxLength)
    {
        var root = new JsonObject
        {
            ["tokenizer_class"] = "GPT2Tokenizer",
            ["bos_token"] = endOfText,
            ["eos_token"] = endOfText,
            ["unk_token"] = endOfText,
            ["add_bos_token"] = false,
            ["add_prefix_space"] = false,
            ["model_max_length"] = modelMaxLength,
            ["clean_up_tokenization_spaces"] = false,
        };
        return Encoding.UTF8.GetBytes(root.ToJsonString(Indented));
    }
}
