// Run @magenta/music 1.23.1's MusicVAE (the reference) in Node on checkpoints served over HTTP and write what it
// computes as JSON: z from encode(), every decoder step's raw output (the logits the sampler reads), the decoded
// tensor and its NoteSequences, for z given explicitly (argmax decoding: no temperature).
//
// usage: node music_vae_parity.js CASES.json OUT.json
// CASES.json: a list of {name, url, seqs?: [NoteSequence JSON], controlArgs?: {chordProgression?, key?},
//                        z?: [[...]], spq?, qpm?, repeat?, interp?: [{z, numInterps}], timing?}
//   seqs -> encode(seqs, controlArgs) -> z ; z (or the encoded z) -> decodeTensors(z, undefined, controlArgs)
//   -> toNoteSequence(row, spq, qpm) for each row (what decode() does). repeat (default 1) reruns encode and
//   decode for timing. Output per case: {z, logits: [per core decoder: [steps][batch][depth]], samples,
//   sequences, encode_ms, decode_ms, arch, interp} or {error}. With timing: {repeat, sample, interp} only the
//   speed of the public API is measured (see timing() below; bench/musicgen_speed.py).
// The model is built by its own initialize() (config.json, weights_manifest.json and shards over HTTP from
// the test's 127.0.0.1 server: Node's fetch does not do file://). The decoders' sample() methods are wrapped to
// observe their input, the output projection of each step.
'use strict';
globalThis.self = globalThis;
globalThis.OfflineAudioContext = class {};  // harmless for music_vae (the transcription bundle needs one)
const fs = require('fs');
const tf = require('@tensorflow/tfjs');
const {MusicVAE} = require('@magenta/music/es6/music_vae');

const num = (v) => (v && typeof v === 'object' && 'low' in v ? v.low + v.high * 4294967296 : v);

function noteOut(n) {
  const f = (v) => (v === undefined || v === null ? null : num(v));
  return {pitch: f(n.pitch), velocity: f(n.velocity), startTime: f(n.startTime), endTime: f(n.endTime),
          quantizedStartStep: f(n.quantizedStartStep), quantizedEndStep: f(n.quantizedEndStep),
          program: f(n.program), instrument: f(n.instrument), isDrum: f(n.isDrum)};
}

function nsOut(ns) {
  return {notes: ns.notes.map(noteOut),
          totalQuantizedSteps: ns.totalQuantizedSteps === undefined ? null : num(ns.totalQuantizedSteps),
          totalTime: ns.totalTime === undefined ? null : ns.totalTime,
          quantizationInfo: ns.quantizationInfo ? {stepsPerQuarter: ns.quantizationInfo.stepsPerQuarter} : null,
          tempos: (ns.tempos || []).map((t) => ({time: t.time || 0, qpm: t.qpm}))};
}

function coreDecoders(dec) {
  if (dec.splitDecoder) return dec.splitDecoder.coreDecoders;
  if (dec.coreDecoders) return dec.coreDecoders;
  return [dec];
}

function describe(model) {
  const decs = coreDecoders(model.decoder);
  return {zDims: model.zDims, kinds: decs.map((d) => d.constructor.name),
          conductor: !!model.decoder.splitDecoder, encoder: model.encoder.constructor.name,
          controlPreprocessing: decs.map((d) => !!d.controlBidirectionalLstm)};
}

function nowMs() {
  const [s, ns] = process.hrtime();
  return s * 1e3 + ns / 1e6;
}

async function medianMs(fn, repeat) {
  const tw = nowMs();
  await fn();  // warm-up
  if (nowMs() - tw > 5000) repeat = 1;  // a call of seconds (16-bar models): one timed run is enough
  const times = [];
  for (let r = 0; r < repeat; ++r) {
    const t0 = nowMs();
    await fn();
    times.push(nowMs() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

// {timing: {repeat, sample, interp}}: the public API end to end, median of `repeat` after a warm-up:
// encode(seqs[0]), decode(its z), sample(n) at its default temperature, interpolate(seqs[0..1], interp).
async function timing(model, c) {
  const t = c.timing;
  const controlArgs = c.controlArgs || undefined;
  const seq = () => [JSON.parse(JSON.stringify(c.seqs[0]))];
  const z = await model.encode(seq(), controlArgs);
  const res = {};
  res.encode_ms = await medianMs(async () => (await model.encode(seq(), controlArgs)).dispose(), t.repeat);
  res.decode_ms = await medianMs(() => model.decode(z, undefined, controlArgs), t.repeat);
  res.sample_ms = await medianMs(() => model.sample(t.sample, 0.5, controlArgs), t.repeat);
  res.interpolate_ms = await medianMs(() => model.interpolate(
      [0, 1].map((k) => JSON.parse(JSON.stringify(c.seqs[k]))), t.interp, undefined, controlArgs), t.repeat);
  z.dispose();
  return res;
}

async function run(c) {
  const model = new MusicVAE(c.url);
  const tInit = nowMs();
  await model.initialize();
  const out = {name: c.name, arch: describe(model), init_ms: nowMs() - tInit};
  if (c.timing) {
    out.timing = await timing(model, c);
    model.dispose();
    return out;
  }
  const controlArgs = c.controlArgs || undefined;
  if (c.interp) {  // [{z, numInterps}] -> getInterpolatedZs (the float32 line / bilinear grid)
    out.interp = c.interp.map((q) => tf.tidy(() => model.getInterpolatedZs(tf.tensor2d(q.z), q.numInterps)
        .arraySync()));
  }
  const repeat = c.repeat || 1;
  let z;
  if (c.seqs) {
    let t0 = Date.now();
    for (let r = 0; r < repeat; ++r) {
      if (z) z.dispose();
      if (model.dataConverter.endTensor) {  // variable-length segments: magenta.js encodes batch 1 only
        const zs = [];
        for (const s of c.seqs) zs.push(await model.encode([JSON.parse(JSON.stringify(s))], controlArgs));
        z = tf.concat(zs, 0);
        zs.forEach((t) => t.dispose());
      } else {
        z = await model.encode(JSON.parse(JSON.stringify(c.seqs)), controlArgs);
      }
    }
    out.encode_ms = (Date.now() - t0) / repeat;
    out.z = z.arraySync();
  }
  if (c.z) {
    if (z) z.dispose();
    z = tf.tensor2d(c.z);
  }
  if (!z) return out;
  const decs = coreDecoders(model.decoder);
  let logits = decs.map(() => []);
  decs.forEach((d, i) => {
    const orig = d.sample.bind(d);
    d.sample = (lstmOutput, temperature) => {
      logits[i].push(lstmOutput.arraySync());
      return orig(lstmOutput, temperature);
    };
  });
  let samples;
  const t0 = Date.now();
  for (let r = 0; r < repeat; ++r) {
    logits = decs.map(() => []);
    if (samples) samples.dispose();
    samples = await model.decodeTensors(z, undefined, controlArgs);
  }
  out.decode_ms = (Date.now() - t0) / repeat;
  out.logits = logits;
  out.samples = samples.arraySync();
  out.sequences = [];
  const rows = tf.split(samples, samples.shape[0]).map((t) => t.squeeze([0]));
  for (const row of rows) {
    out.sequences.push(nsOut(await model.dataConverter.toNoteSequence(
        row, c.spq === undefined ? 4 : c.spq, c.qpm === undefined ? 120 : c.qpm)));
  }
  model.dispose();
  return out;
}

async function main() {
  const [casesFile, outFile] = process.argv.slice(2);
  await tf.setBackend('cpu');
  const cases = JSON.parse(fs.readFileSync(casesFile, 'utf8'));
  const results = [];
  for (const c of cases) {
    try {
      results.push(await run(c));
    } catch (e) {
      results.push({name: c.name, error: String(e && e.message || e)});
    }
  }
  fs.writeFileSync(outFile, JSON.stringify({tfjs: tf.version.tfjs, backend: tf.getBackend(), results}));
}

main().catch((e) => { console.error(e); process.exit(1); });
