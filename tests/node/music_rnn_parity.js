// Run @magenta/music 1.23.1's MusicRNN (the reference) on checkpoints served over HTTP and write what it computes.
//
// usage: node music_rnn_parity.js CASES.json OUT.json
// CASES.json: a list of {url, seq, steps, temperature|null, chords|null, seed|null, repeat|null}:
//   url    a checkpoint directory served on 127.0.0.1 (config.json, weights_manifest.json, shards): the model's
//          own initialize() fetches and loads it, exactly as in a browser;
//   seq    a quantized NoteSequence (plain object); steps, temperature, chords as continueSequence's arguments;
//   seed   when set, Math.random is replaced by mulberry32(seed) first, so the multinomial draws are
//          reproducible (tfjs seeds each tf.multinomial call with Math.random());
//   repeat when set, the continuation is also run that many more times and the wall time per run reported.
// Output per case: {events: [class per new step], probs: [[...D]...], notes: [...], totalQuantizedSteps,
//                   initMs, runMs?} or {error}. events are the argmax of sampleRnn's one-hot samples (observed
// by wrapping sampleRnn); probs come from continueSequenceAndReturnProbabilities.
'use strict';
globalThis.self = globalThis;
const fs = require('fs');
const tf = require('@tensorflow/tfjs');
const {MusicRNN} = require('@magenta/music/es6/music_rnn');

function mulberry32(a) {
  return function() {
    a |= 0; a = a + 0x6D2B79F5 | 0;
    let t = Math.imul(a ^ a >>> 15, 1 | a);
    t = t + Math.imul(t ^ t >>> 7, 61 | t) ^ t;
    return ((t ^ t >>> 14) >>> 0) / 4294967296;
  };
}

const num = (v) => (v && typeof v === 'object' && 'low' in v ? v.low + v.high * 4294967296 : v);
const models = {};

async function run(c) {
  const t0 = Date.now();
  if (!models[c.url]) {
    const m = new MusicRNN(c.url);
    await m.initialize();
    models[c.url] = m;
  }
  const model = models[c.url];
  const initMs = Date.now() - t0;
  let events = null;
  const sampleRnn = model.sampleRnn.bind(model);
  model.sampleRnn = (...args) => {
    const r = sampleRnn(...args);
    events = r.samples.map((t) => t.argMax().dataSync()[0]);
    return r;
  };
  const origRandom = Math.random;
  if (c.seed !== null && c.seed !== undefined) Math.random = mulberry32(c.seed);
  try {
    const seq = JSON.parse(JSON.stringify(c.seq));
    const res = await model.continueSequenceAndReturnProbabilities(seq, c.steps, c.temperature === null ?
        undefined : c.temperature, c.chords === null ? undefined : c.chords);
    const ns = await res.sequence;
    const out = {events, probs: res.probs.map((p) => Array.from(p)), initMs,
                 notes: ns.notes.map((n) => [num(n.pitch), num(n.quantizedStartStep), num(n.quantizedEndStep),
                                             !!n.isDrum]),
                 totalQuantizedSteps: num(ns.totalQuantizedSteps),
                 stepsPerQuarter: ns.quantizationInfo.stepsPerQuarter};
    if (c.repeat) {
      const t1 = process.hrtime.bigint();
      for (let k = 0; k < c.repeat; k++) {
        await model.continueSequence(JSON.parse(JSON.stringify(c.seq)), c.steps, c.temperature === null ?
            undefined : c.temperature, c.chords === null ? undefined : c.chords);
      }
      out.runMs = Number(process.hrtime.bigint() - t1) / 1e6 / c.repeat;
    }
    return out;
  } finally {
    Math.random = origRandom;
    model.sampleRnn = sampleRnn;
  }
}

async function main() {
  const [casesFile, outFile] = process.argv.slice(2);
  await tf.setBackend('cpu');
  const log = console.log;
  console.log = () => {};  // the library logs every continuation
  const cases = JSON.parse(fs.readFileSync(casesFile, 'utf8'));
  const results = [];
  for (const c of cases) {
    try {
      results.push(await run(c));
    } catch (e) {
      results.push({error: String(e && e.message || e)});
    }
  }
  console.log = log;
  fs.writeFileSync(outFile, JSON.stringify({tfjs: tf.version.tfjs, backend: tf.getBackend(), results}));
}

main().catch((e) => { console.error(e); process.exit(1); });
