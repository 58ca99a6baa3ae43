// Token counts of the TweetEval sentiment tweets under the bert-base-uncased
// tokenizer ([CLS] … [SEP], truncated to 128), via Hugging Face's tokenizers:
// the realistic length mix of bench/encoder/run.py.
//
//   node bench/encoder/tweet_lengths.mjs TWEETS.txt TOKENIZER.json OUT.json
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';

const require = createRequire(new URL('../../tools/package.json', import.meta.url));
const { Tokenizer } = require('tokenizers');

const [tweetsPath, tokenizerPath, outPath] = process.argv.slice(2);
const tok = Tokenizer.fromFile(tokenizerPath);
tok.setTruncation(128);
const lines = readFileSync(tweetsPath, 'utf8').split('\n').filter((l) => l.length > 0);
const lengths = [];
for (let i = 0; i < lines.length; i += 512) {
  const enc = await tok.encodeBatch(lines.slice(i, i + 512));
  for (const e of enc) lengths.push(e.getLength());
}
writeFileSync(outPath, JSON.stringify({ source: tweetsPath, tokenizer: tokenizerPath, lengths }));
const sorted = [...lengths].sort((a, b) => a - b);
const q = (p) => sorted[Math.floor(p * (sorted.length - 1))];
console.error(`tweet_lengths: ${lengths.length} tweets, median ${q(0.5)}, p90 ${q(0.9)}, max ${q(1)} tokens`);
