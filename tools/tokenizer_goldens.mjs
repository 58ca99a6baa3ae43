// Golden token ids from the real Hugging Face implementation (npm `tokenizers`,
// pinned in tools/package.json), for sluice's tokenizer tests.
//
//   (cd tools && npm ci --ignore-scripts)
//   node tools/tokenizer_goldens.mjs [--train-bpe] [--data DIR]
//
// Writes tests/fixtures/tokenizer/goldens/<tokenizer>.<input>[.<variant>].ids:
// one JSON array of ids per input text, exactly JSON.stringify(encoding.getIds()),
// which is also what `sluice tokenize` prints. Tokenizers:
//   bert  ../shared/data/bert-base-uncased/tokenizer.json (WordPiece)
//   bpe   tests/fixtures/tokenizer/sst2-bpe/tokenizer.json, a RoBERTa-style
//         byte-level BPE trained here on SST-2 train with the same library
//         (--train-bpe retrains it; otherwise the committed one is reused)
// Inputs: SST-2 dev sentences, the first 2,000 TweetEval test tweets (both read
// from the shared data folder, never committed) and the committed edge cases.
// Variants on the edge cases: no truncation, truncation to 16, no special tokens,
// and the tokenizer variants of tests/fixtures/tokenizer/variants.json.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(new URL('./package.json', import.meta.url));
const hf = require('tokenizers');
const hfVersion = require('tokenizers/package.json').version;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const dataDir = args.includes('--data') ? args[args.indexOf('--data') + 1]
                                        : path.resolve(root, '..', 'shared', 'data');
const fixtures = path.join(root, 'tests', 'fixtures', 'tokenizer');
const goldens = path.join(fixtures, 'goldens');
const bpeDir = path.join(fixtures, 'sst2-bpe');
const bpeLegacyDir = path.join(fixtures, 'sst2-bpe-legacy');

// The trained BPE keeps its first merges so the vocabulary is 8,192 ids:
// 4 specials, the 256 byte symbols, the merges' tokens, <mask>.
const kBpeVocab = 8192;

export function readSst2(file) {
  return fs.readFileSync(file, 'utf8').split('\n').slice(1).filter((l) => l.length > 0)
    .map((l) => l.slice(0, l.lastIndexOf('\t')));
}
export function readLines(file) {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

// The byte-to-unicode map of GPT-2 (and HF's ByteLevel): printable bytes stand
// for themselves, the others for 256, 257, ...
function byteLevelAlphabet() {
  const chars = [];
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
    chars.push(String.fromCodePoint(printable ? b : next++));
  }
  return chars;
}

function trainBpe() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bpe-'));
  const corpus = path.join(tmp, 'sst2-train.txt');
  fs.writeFileSync(corpus, readSst2(path.join(dataDir, 'sst2', 'train.tsv')).join('\n') + '\n');
  const tok = new hf.Tokenizer(hf.BPE.empty());
  tok.setPreTokenizer(hf.byteLevelPreTokenizer(false, true));
  tok.train([corpus]);  // HF's default BpeTrainer (30,000 ids)
  const trainedFile = path.join(tmp, 'trained.json');
  tok.save(trainedFile);
  const trained = JSON.parse(fs.readFileSync(trainedFile, 'utf8'));
  fs.rmSync(tmp, { recursive: true });

  // RoBERTa's layout: <s> <pad> </s> <unk>, then the vocabulary, <mask> last.
  const vocab = { '<s>': 0, '<pad>': 1, '</s>': 2, '<unk>': 3 };
  let next = 4;
  for (const ch of byteLevelAlphabet()) vocab[ch] = next++;
  const merges = [];
  for (const m of trained.model.merges) {
    if (next >= kBpeVocab - 1) break;
    const [a, b] = Array.isArray(m) ? m : m.split(' ');
    if (!(a in vocab) || !(b in vocab)) throw new Error(`merge ${a} ${b} before its parts`);
    merges.push([a, b]);
    if (!((a + b) in vocab)) vocab[a + b] = next++;
  }
  vocab['<mask>'] = next++;
  const added = (id, content, lstrip = false) => ({
    id, content, single_word: false, lstrip, rstrip: false, normalized: false, special: true,
  });
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [added(0, '<s>'), added(1, '<pad>'), added(2, '</s>'), added(3, '<unk>'),
                   added(vocab['<mask>'], '<mask>', true)],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'RobertaProcessing', sep: ['</s>', 2], cls: ['<s>', 0],
                      trim_offsets: true, add_prefix_space: false },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null,
             end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false,
             vocab, merges },
  };
  fs.mkdirSync(bpeDir, { recursive: true });
  fs.writeFileSync(path.join(bpeDir, 'tokenizer.json'), JSON.stringify(json, null, 1) + '\n');
  // The same model as RoBERTa's older files, for the vocab.json + merges.txt loader.
  fs.mkdirSync(bpeLegacyDir, { recursive: true });
  fs.writeFileSync(path.join(bpeLegacyDir, 'vocab.json'), JSON.stringify(vocab) + '\n');
  fs.writeFileSync(path.join(bpeLegacyDir, 'merges.txt'),
                   '#version: 0.2\n' + merges.map(([a, b]) => `${a} ${b}`).join('\n') + '\n');
  console.log(`trained BPE: ${merges.length} merges, ${next} ids -> ${bpeDir}`);
}

function sha256(lines) {
  return crypto.createHash('sha256').update(lines.join('\n')).digest('hex');
}

async function writeGolden(name, tok, texts, options = {}) {
  const encodings = await tok.encodeBatch(texts, options);
  const out = encodings.map((e) => JSON.stringify(e.getIds())).join('\n') + '\n';
  fs.writeFileSync(path.join(goldens, name + '.ids'), out);
  return encodings.reduce((n, e) => n + e.getLength(), 0);
}

async function main() {
  if (args.includes('--train-bpe') || !fs.existsSync(path.join(bpeDir, 'tokenizer.json'))) trainBpe();
  fs.mkdirSync(goldens, { recursive: true });
  const edge = readLines(path.join(fixtures, 'edge_cases.jsonl')).map((l) => JSON.parse(l).text);
  const inputs = {
    'sst2-dev': readSst2(path.join(dataDir, 'sst2', 'dev.tsv')),
    'tweeteval-2000': readLines(path.join(dataDir, 'tweeteval-sentiment', 'test_text.txt')).slice(0, 2000),
    edge,
  };
  const tokenizers = {
    bert: path.join(dataDir, 'bert-base-uncased', 'tokenizer.json'),
    bpe: path.join(bpeDir, 'tokenizer.json'),
  };
  const manifest = { generator: 'tools/tokenizer_goldens.mjs', tokenizers_npm: hfVersion,
                     inputs: {}, goldens: {} };
  for (const [name, texts] of Object.entries(inputs)) {
    manifest.inputs[name] = { count: texts.length, sha256: sha256(texts) };
  }
  for (const [tname, file] of Object.entries(tokenizers)) {
    for (const [iname, texts] of Object.entries(inputs)) {
      const tok = hf.Tokenizer.fromFile(file);
      const g = `${tname}.${iname}`;
      manifest.goldens[g] = { tokens: await writeGolden(g, tok, texts) };
    }
    const trunc = hf.Tokenizer.fromFile(file);
    trunc.setTruncation(16);
    manifest.goldens[`${tname}.edge.trunc16`] = { tokens: await writeGolden(`${tname}.edge.trunc16`, trunc, edge) };
    const plain = hf.Tokenizer.fromFile(file);
    manifest.goldens[`${tname}.edge.nospecial`] = {
      tokens: await writeGolden(`${tname}.edge.nospecial`, plain, edge, { addSpecialTokens: false }),
    };
  }
  // Variants: a base tokenizer.json with some top-level keys replaced, to pin
  // the configurable components (normalizers, pre-tokenizers, added-token flags).
  const variants = JSON.parse(fs.readFileSync(path.join(fixtures, 'variants.json'), 'utf8'));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-variant-'));
  for (const [vname, v] of Object.entries(variants)) {
    if (vname.startsWith('_')) continue;
    const json = { ...JSON.parse(fs.readFileSync(tokenizers[v.base], 'utf8')), ...v.patch };
    const file = path.join(tmp, `${vname}.json`);
    fs.writeFileSync(file, JSON.stringify(json));
    manifest.goldens[`${vname}.edge`] = { tokens: await writeGolden(`${vname}.edge`, hf.Tokenizer.fromFile(file), edge) };
  }
  fs.rmSync(tmp, { recursive: true });
  fs.writeFileSync(path.join(goldens, 'manifest.json'), JSON.stringify(manifest, null, 1) + '\n');
  console.log(`wrote goldens for ${Object.keys(manifest.goldens).length} (tokenizer, input) pairs -> ${goldens}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
