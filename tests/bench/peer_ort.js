#!/usr/bin/env node
// ONNX Runtime half of tests/bench/peers.sh (onnxruntime-node, installed in tests/bench/ with
// `npm ci --ignore-scripts`: the CPU binaries ship inside the package, no download step needed).
//
//   node peer_ort.js MODEL.onnx C,H,W --batch B --reps R [--warmup W] [--threads T]
//
// Prints one JSON line (median/min/max ms per run and images/s), like our engine's --json.
'use strict';
const ort = require('onnxruntime-node');

function parseArgs(argv) {
  const a = { batch: 1, reps: 30, warmup: 3, threads: 2 };
  const pos = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith('--')) a[argv[i].slice(2)] = Number(argv[++i]);
    else pos.push(argv[i]);
  }
  if (pos.length !== 2) {
    console.error('usage: node peer_ort.js MODEL.onnx C,H,W --batch B --reps R [--warmup W] [--threads T]');
    process.exit(2);
  }
  a.model = pos[0];
  a.chw = pos[1].split(',').map(Number);
  return a;
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  // Same settings as the SPEC §8 figures: 2 intra-op threads, 1 inter-op, all graph optimisations.
  const session = await ort.InferenceSession.create(a.model, {
    intraOpNumThreads: a.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const n = a.batch * a.chw.reduce((p, q) => p * q, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.random() * 2 - 1;  // values do not affect timing
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, [a.batch, ...a.chw]) };

  const ms = [];
  for (let i = 0; i < a.warmup + a.reps; i++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    const dt = Number(process.hrtime.bigint() - t0) / 1e6;
    if (i >= a.warmup) ms.push(dt);
  }
  ms.sort((p, q) => p - q);
  const mid = ms.length >> 1;
  const median = ms.length % 2 ? ms[mid] : (ms[mid - 1] + ms[mid]) / 2;
  const r3 = (x) => Math.round(x * 1000) / 1000;
  console.log(JSON.stringify({
    median_ms: r3(median), min_ms: r3(ms[0]), max_ms: r3(ms[ms.length - 1]),
    images_per_s: Math.round(a.batch * 1e5 / median) / 100, batch: a.batch, reps: ms.length,
    what: 'ort-infer', ort: ort.env.versions.common, threads: a.threads,
  }));
}

main().catch((e) => { console.error(e); process.exit(1); });
