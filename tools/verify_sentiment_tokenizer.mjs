// Checks that the Python WordPiece tokenizer used for training
// (tools/wordpiece_vocab.py) yields exactly the ids Hugging Face `tokenizers`
// yields from a model directory's tokenizer.json, on every text of the given
// files. The model is trained on the Python ids and served on HF-equal ids
// (sluice's tokenizer reproduces HF), so any difference is a training bug.
//
// usage: node tools/verify_sentiment_tokenizer.mjs [MODEL_DIR] [FILE ...]
//   MODEL_DIR defaults to models/sentiment-sst2-small; FILEs ending in .tsv are
//   SST-2 style (header, text<TAB>label), others hold one text per line.
//   Default files: ../shared/data/sst2/{train,dev}.tsv for an SST-2 model;
//   for a model directory named *tweet*, the TweetEval train tweets as the
//   trainer cleans them (tools/tweet_text.py) and the raw test tweets.
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
const dataDir = path.join(repoRoot, '../shared/data');
const tweets = path.basename(path.resolve(modelDir)).includes('tweet');
const files = process.argv.length > 3 ? process.argv.slice(3)
  : tweets ? ['train_text.txt', 'test_text.txt'].map((f) => path.join(dataDir, 'tweeteval-sentiment', f))
    : ['train.tsv', 'dev.tsv'].map((f) => path.join(dataDir, 'sst2', f));

// The trainer's view of a file: train tweets cleaned as tools/tweet_text.py
// does before tokenizing, anything else as is.
function readTexts(file) {
  if (file.endsWith('.tsv')) {
    return readFileSync(file, 'utf8').split('\n').slice(1).filter((l) => l.length > 0).map((l) => {
      const tab = l.lastIndexOf('\t');
      if (tab < 0) throw new Error(`${file}: line without a tab: ${JSON.stringify(l)}`);
      return l.slice(0, tab);
    });
  }
  const lines = readFileSync(file, 'utf8').split('\n');
  if (lines.at(-1) === '') lines.pop();
  if (path.basename(file) !== 'train_text.txt') return lines;
  const cleaned = execFileSync('/usr/bin/python3', ['-c',
    'import sys; sys.path.insert(0, sys.argv[1]); import tweet_text; ' +
    'sys.stdout.write("".join(tweet_text.clean_train_text(l.rstrip("\\n")).replace("\\n", " ") + "\\n" ' +
    'for l in open(sys.argv[2], encoding="utf-8", newline="\\n")))', toolsDir, file],
  { maxBuffer: 1 << 30, encoding: 'utf8' });
  return cleaned.split('\n').slice(0, -1);
}

const tokenizerJson = path.join(modelDir, 'tokenizer.json');
const tok = Tokenizer.fromFile(tokenizerJson);

let total = 0;
let mismatches = 0;
for (const file of files) {
  const texts = readTexts(file);
  const py = execFileSync('/usr/bin/python3',
    [path.join(toolsDir, 'wordpiece_vocab.py'), 'encode', tokenizerJson],
    { input: texts.join('\n') + '\n', maxBuffer: 1 << 30, encoding: 'utf8' })
    .split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l));
  if (py.length !== texts.length) {
    throw new Error(`${file}: python returned ${py.length} sequences for ${texts.length} texts`);
  }
  const hf = await tok.encodeBatch(texts);
  let fileMismatches = 0;
  for (let i = 0; i < texts.length; ++i) {
    const a = Array.from(hf[i].getIds());
    const b = py[i];
    if (a.length !== b.length || a.some((x, j) => x !== b[j])) {
      if (mismatches < 10) {
        console.log(`MISMATCH ${file}:${i + 1} ${JSON.stringify(texts[i])}\n  hf ${JSON.stringify(a)}\n  py ${JSON.stringify(b)}`);
      }
      ++mismatches;
      ++fileMismatches;
    }
  }
  total += texts.length;
  console.log(`${path.basename(file)}: ${texts.length - fileMismatches}/${texts.length} identical`);
}
console.log(`total: ${total - mismatches}/${total} identical (${tokenizerJson})`);
process.exit(mismatches === 0 ? 0 : 1);
