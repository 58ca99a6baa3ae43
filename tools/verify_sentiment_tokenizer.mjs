// Checks that the Python WordPiece tokenizer used for training
// (tools/wordpiece_vocab.py) yields exactly the ids Hugging Face `tokenizers`
// yields from a model directory's tokenizer.json, on every sentence of SST-2
// train and dev. The model is trained on the Python ids and served on HF-equal
// ids (sluice's tokenizer reproduces HF), so any difference is a training bug.
//
// usage: node tools/verify_sentiment_tokenizer.mjs [MODEL_DIR] [TSV ...]
//   MODEL_DIR defaults to models/sentiment-sst2-small,
//   TSVs default to ../shared/data/sst2/{train,dev}.tsv (header, text<TAB>label).
// Exit 0 when every sequence is identical, 1 otherwise (first mismatches printed).
// Needs `(cd tools && npm ci --ignore-scripts)` and /usr/bin/python3.

import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(new URL('../tools/package.json', import.meta.url));
const { Tokenizer } = require('tokenizers');

const toolsDir = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.dirname(toolsDir);
const modelDir = process.argv[2] ?? path.join(repoRoot, 'models/sentiment-sst2-small');
const tsvs = process.argv.length > 3 ? process.argv.slice(3)
  : ['train.tsv', 'dev.tsv'].map((f) => path.join(repoRoot, '../shared/data/sst2', f));

const tokenizerJson = path.join(modelDir, 'tokenizer.json');
const tok = Tokenizer.fromFile(tokenizerJson);

let total = 0;
let mismatches = 0;
for (const tsv of tsvs) {
  const lines = readFileSync(tsv, 'utf8').split('\n').slice(1).filter((l) => l.length > 0);
  const texts = lines.map((l) => {
    const tab = l.lastIndexOf('\t');
    if (tab < 0) throw new Error(`${tsv}: line without a tab: ${JSON.stringify(l)}`);
    return l.slice(0, tab);
  });
  const py = execFileSync('/usr/bin/python3',
    [path.join(toolsDir, 'wordpiece_vocab.py'), 'encode', tokenizerJson],
    { input: texts.join('\n') + '\n', maxBuffer: 1 << 30, encoding: 'utf8' })
    .split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l));
  if (py.length !== texts.length) {
    throw new Error(`${tsv}: python returned ${py.length} sequences for ${texts.length} texts`);
  }
  const hf = await tok.encodeBatch(texts);
  let fileMismatches = 0;
  for (let i = 0; i < texts.length; ++i) {
    const a = Array.from(hf[i].getIds());
    const b = py[i];
    if (a.length !== b.length || a.some((x, j) => x !== b[j])) {
      if (mismatches < 10) {
        console.log(`MISMATCH ${tsv}:${i + 2} ${JSON.stringify(texts[i])}\n  hf ${JSON.stringify(a)}\n  py ${JSON.stringify(b)}`);
      }
      ++mismatches;
      ++fileMismatches;
    }
  }
  total += texts.length;
  console.log(`${path.basename(tsv)}: ${texts.length - fileMismatches}/${texts.length} identical`);
}
console.log(`total: ${total - mismatches}/${total} identical (${tokenizerJson})`);
process.exit(mismatches === 0 ? 0 : 1);
