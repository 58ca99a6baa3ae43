// Hugging Face's side of the tokenizer benchmark (bench/tokenizer/run.sh):
// the npm `tokenizers` package pinned in tools/package.json, encodeBatch over
// the whole input. Its thread count is RAYON_NUM_THREADS (set by run.sh).
//
//   node bench/tokenizer/hf_bench.mjs --tokenizer FILE --input FILE [--sst2]
//        [--repeat R] [--dump-ids FILE]
//
// Prints one JSON line like tokenizer_bench: the median of R timed
// encodeBatch calls after one warm-up (ids read after the clock stops), wall
// clock and process CPU time (process.cpuUsage: all threads).
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(new URL('../../tools/package.json', import.meta.url));
const { Tokenizer } = require('tokenizers');

const args = process.argv.slice(2);
const opt = (name, def) => (args.includes(name) ? args[args.indexOf(name) + 1] : def);
let file = opt('--tokenizer');
if (fs.existsSync(file) && fs.statSync(file).isDirectory()) file = path.join(file, 'tokenizer.json');
const input = opt('--input');
const repeat = Number(opt('--repeat', '5'));
const dump = opt('--dump-ids');

let texts = fs.readFileSync(input, 'utf8').split('\n');
if (texts[texts.length - 1] === '') texts.pop();
if (args.includes('--sst2')) {
  texts = texts.slice(1).filter((l) => l.length > 0).map((l) => l.slice(0, l.lastIndexOf('\t')));
}

const tok = Tokenizer.fromFile(file);
tok.setTruncation(512);  // as sluice's default max_length; no input here reaches it
let encodings = await tok.encodeBatch(texts);  // warm-up: thread pool, caches
const times = [];
const cpus = [];
for (let r = 0; r < repeat; r++) {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  encodings = await tok.encodeBatch(texts);
  times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  const c = process.cpuUsage(c0);  // every thread of the process, rayon's included
  cpus.push((c.user + c.system) / 1e6);
}
times.sort((a, b) => a - b);
cpus.sort((a, b) => a - b);
const seconds = times[Math.floor(times.length / 2)];
const cpuSeconds = cpus[Math.floor(cpus.length / 2)];
let tokens = 0;
const lines = [];
for (const e of encodings) {
  const ids = e.getIds();
  tokens += ids.length;
  if (dump) lines.push(JSON.stringify(ids));
}
if (dump) fs.writeFileSync(dump, lines.join('\n') + '\n');
const threads = Number(process.env.RAYON_NUM_THREADS || 0);
console.log(JSON.stringify({
  impl: 'hf', threads, sentences: texts.length, tokens, seconds,
  sentences_per_s: texts.length / seconds, tokens_per_s: tokens / seconds,
  cpu_seconds: cpuSeconds, sentences_per_cpu_s: texts.length / cpuSeconds, runs: repeat,
}));
