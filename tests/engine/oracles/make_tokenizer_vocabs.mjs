// Writes the vocabulary-only GGUF files of tokenizer_sources.mjs into the directory given as the
// first argument (the tests run this at test time: no vocabulary data is committed).
// Usage: node make_tokenizer_vocabs.mjs OUT_DIR [name...]
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { VOCABS } from './tokenizer_sources.mjs';
import { writeVocabGguf } from './gguf_vocab_writer.mjs';

const [outDir, ...names] = process.argv.slice(2);
if (!outDir) {
  console.error('usage: node make_tokenizer_vocabs.mjs OUT_DIR [name...]');
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });
// A file newer than the scripts that make it is kept (the tests run this before every run).
const scripts = ['tokenizer_sources.mjs', 'gguf_vocab_writer.mjs', 'make_tokenizer_vocabs.mjs']
  .map((f) => statSync(fileURLToPath(new URL(f, import.meta.url))).mtimeMs);
const newest = Math.max(...scripts);
for (const name of names.length ? names : Object.keys(VOCABS)) {
  const path = `${outDir}/ggml-vocab-${name}.gguf`;
  if (existsSync(path) && statSync(path).mtimeMs > newest) continue;
  writeVocabGguf(path, VOCABS[name]().gguf);
  console.log(`wrote ${path}`);
}
