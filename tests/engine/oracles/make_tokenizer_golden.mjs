// Regenerates tests/golden/tokenizer/<vocab>.inp/.out (and .special.inp/.out) from the npm
// oracles, in llama.cpp's test-tokenizer-0 format: the .inp file holds the texts, each followed by
// "\n__ggml_vocab_test__\n"; the .out file one line of space-separated ids per text.
// Usage: node make_tokenizer_golden.mjs [name...]   (run from anywhere; commit the result)
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { VOCABS } from './tokenizer_sources.mjs';
import { CORPUS, SPECIAL_CORPUS } from './tokenizer_corpus.mjs';

const outDir = fileURLToPath(new URL('../../golden/tokenizer/', import.meta.url));
const SEP = '\n__ggml_vocab_test__\n';

// Texts the BERT oracle cannot handle like HF BertTokenizer does: astral code points (it works on
// UTF-16 units), characters NFKC changes (it applies NFKC), and context-dependent lower-casing.
function bertCanTake(text) {
  const p = text.normalize('NFD').replace(/\p{Mn}/gu, '');
  return ![...p].some((c) => c.codePointAt(0) > 0xFFFF) && p === p.normalize('NFKC') &&
    !/[ΣİẞʼÅ]/u.test(text);
}

function write(base, texts, encode) {
  writeFileSync(`${outDir}${base}.inp`, texts.map((t) => t + SEP).join(''));
  writeFileSync(`${outDir}${base}.out`, texts.map((t) => encode(t).join(' ') + '\n').join(''));
  console.log(`wrote ${base}.inp/.out (${texts.length} texts)`);
}

const names = process.argv.slice(2);
for (const name of names.length ? names : Object.keys(VOCABS)) {
  const v = VOCABS[name]();
  const texts = name === 'bert' ? CORPUS.filter(bertCanTake) : CORPUS;
  const special = name === 'bert' ? SPECIAL_CORPUS.filter(bertCanTake).filter((t) => !/[[<]/.test(t)) : SPECIAL_CORPUS;
  write(name, texts, v.encode);
  write(`${name}.special`, special, v.encodeSpecial);
}
