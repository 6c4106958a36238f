namespace MLNet.MoE;

/// <summary>One entry of a Hugging Face tokenizer.json's "added_tokens", with the flags that decide where it matches.</summary>
/// <param name="Content">The token's text.</param>
/// <param name="Id">Its id.</param>
/// <param name="Special">A special token (control text such as a chat-turn marker): matched only when the caller asks for special tokens.</param>
/// <param name="LStrip">The whitespace before a match belongs to the token.</param>
/// <param name="RStrip">The whitespace after a match belongs to the token.</param>
/// <param name="SingleWord">Matches only when no word character touches it on either side.</param>
/// <param name="Normalized">Matched in the normalized text rather than in the text as given.</param>
internal sealed record AddedToken(string Content, int Id, bool Special, bool LStrip, bool RStrip, bool SingleWord, bool Normalized);
