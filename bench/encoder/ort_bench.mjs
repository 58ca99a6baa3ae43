// ONNX Runtime peer for bench/encoder/run.py: runs an ONNX export of the same
// weights (tools/export_onnx.py) on the same batch plan as encoder_bench,
// each batch padded to its longest sequence as users of ORT do, with default
// graph optimisations and intraOpNumThreads = the shared thread count.
//
//   node bench/encoder/ort_bench.mjs --model model.onnx --plan plan.json --threads N --min-time S --pad-id P [--vocab V]
// Prints one JSON line per config: {"name", "seq_per_s", "batches", "seconds", "cpu_seconds"}.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

const require = createRequire(new URL('../../tools/package.json', import.meta.url));
const ort = require('onnxruntime-node');

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const threads = Number(args.threads ?? 1);
const minTime = Number(args['min-time'] ?? 1);
const padId = BigInt(args['pad-id'] ?? 0);
// Token ids are drawn from [1000, min(vocab, 30000)): inside a small model's vocabulary too.
const idSpan = Math.min(Number(args.vocab ?? 30522), 30000) - 1000;
const plan = JSON.parse(readFileSync(args.plan, 'utf8'));

const session = await ort.InferenceSession.create(args.model, {
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
});
console.error(`ort_bench: onnxruntime-node ${ort.env.versions?.common ?? ''}, ${threads} threads`);

function makeBatch(lengths, seed) {
  const B = lengths.length;
  const L = Math.max(...lengths);
  const ids = new BigInt64Array(B * L).fill(padId);
  const mask = new BigInt64Array(B * L);
  let x = (seed * 2654435761 + 1) >>> 0;
  lengths.forEach((len, i) => {
    for (let t = 0; t < len; ++t) {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      ids[i * L + t] = BigInt(1000 + (x >>> 8) % idSpan);
      mask[i * L + t] = 1n;
    }
  });
  return {
    feeds: { input_ids: new ort.Tensor('int64', ids, [B, L]), attention_mask: new ort.Tensor('int64', mask, [B, L]) },
    records: B,
  };
}

const cpuSeconds = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };

for (const cfg of plan.configs) {
  const batches = cfg.batches.map((lengths, i) => makeBatch(lengths, i + 1));
  const cycle = async () => { for (const b of batches) await session.run(b.feeds); };
  await cycle();  // warm-up
  let sequences = 0, n = 0, elapsed = 0;
  const cpu0 = cpuSeconds();
  const t0 = process.hrtime.bigint();
  do {
    await cycle();
    for (const b of batches) sequences += b.records;
    n += batches.length;
    elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  } while (elapsed < minTime);
  console.log(JSON.stringify({ name: cfg.name, seq_per_s: sequences / elapsed, batches: n, seconds: elapsed,
                               cpu_seconds: cpuSeconds() - cpu0 }));
}
