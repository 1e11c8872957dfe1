// Run @magenta/music 1.23.1's data converters, chord encoders and aux inputs (the reference) on a list of cases
// and write what they return as JSON.
//
// usage: node sequences_parity.js CASES.json OUT.json
// CASES.json: a list of {op, ...}:
//   {op: "toTensor", spec, seq}                           -> {shape, dtype, values} | {error}
//   {op: "toNoteSequence", spec, tensor: {shape, dtype, values}, spq, qpm}  -> {ns} | {error}
//   {op: "chords", encoder, chords: [..], numSteps}       -> {shape, dtype, values} | {error}
//   {op: "encode", encoder, chord}                        -> {values} | {error}
//   {op: "aux", spec, numSteps}                           -> {shape, dtype, values}
// The converters are not exported by the ES6 bundles, so they are built the way MusicRNN builds them: a MusicRNN
// constructed with a spec and instantiateFromSpec() (which calls data.converterFromSpec, chordEncoderFromType
// and auxiliaryInputFromSpec of the bundled core).
'use strict';
globalThis.self = globalThis;
const fs = require('fs');
const tf = require('@tensorflow/tfjs');
const {MusicRNN} = require('@magenta/music/es6/music_rnn');

function build(spec) {
  const m = new MusicRNN(undefined, JSON.parse(JSON.stringify(Object.assign({type: 'MusicRNN'}, spec))));
  m.instantiateFromSpec();
  return m;
}

function tensorOut(t) {
  return {shape: t.shape, dtype: t.dtype, values: Array.from(t.dataSync())};
}

// protobuf int64 fields default to a Long object (0) on NoteSequence.create()d messages
const num = (v) => (v && typeof v === 'object' && 'low' in v ? v.low + v.high * 4294967296 : v);

function noteOut(n) {
  const f = (v) => (v === undefined ? null : num(v));
  return {pitch: f(n.pitch), velocity: f(n.velocity), startTime: f(n.startTime), endTime: f(n.endTime),
          quantizedStartStep: f(n.quantizedStartStep), quantizedEndStep: f(n.quantizedEndStep),
          program: f(n.program), instrument: f(n.instrument), isDrum: f(n.isDrum)};
}

function nsOut(ns) {
  return {notes: ns.notes.map(noteOut), totalQuantizedSteps: ns.totalQuantizedSteps === undefined ? null :
          num(ns.totalQuantizedSteps), totalTime: ns.totalTime, quantizationInfo: ns.quantizationInfo ?
          {stepsPerQuarter: ns.quantizationInfo.stepsPerQuarter} : null,
          tempos: (ns.tempos || []).map((t) => ({time: t.time, qpm: t.qpm}))};
}

async function run(c) {
  switch (c.op) {
    case 'toTensor': {
      const m = build({dataConverter: c.spec});
      return tensorOut(m.dataConverter.toTensor(c.seq));
    }
    case 'toNoteSequence': {
      const m = build({dataConverter: c.spec});
      const t = tf.tensor(c.tensor.values, c.tensor.shape, c.tensor.dtype);
      const ns = await m.dataConverter.toNoteSequence(t, c.spq === null ? undefined : c.spq,
                                                      c.qpm === null ? undefined : c.qpm);
      return {ns: nsOut(ns)};
    }
    case 'chords': {
      const m = build({dataConverter: {type: 'MelodyConverter', args: {minPitch: 48, maxPitch: 83}},
                       chordEncoder: c.encoder});
      return tensorOut(m.chordEncoder.encodeProgression(c.chords, c.numSteps));
    }
    case 'encode': {
      const m = build({dataConverter: {type: 'MelodyConverter', args: {minPitch: 48, maxPitch: 83}},
                       chordEncoder: c.encoder});
      return {values: Array.from(m.chordEncoder.encode(c.chord).dataSync())};
    }
    case 'aux': {
      const m = build({dataConverter: {type: 'MelodyConverter', args: {minPitch: 48, maxPitch: 83}},
                       auxInputs: [c.spec]});
      return tensorOut(m.auxInputs[0].getTensors(c.numSteps));
    }
    default:
      throw new Error(`unknown op ${c.op}`);
  }
}

async function main() {
  const [casesFile, outFile] = process.argv.slice(2);
  await tf.setBackend('cpu');
  const cases = JSON.parse(fs.readFileSync(casesFile, 'utf8'));
  const out = [];
  for (const c of cases) {
    try {
      out.push(await run(c));
    } catch (e) {
      out.push({error: String(e && e.message || e)});
    }
  }
  fs.writeFileSync(outFile, JSON.stringify({tfjs: tf.version.tfjs, results: out}));
}

main().catch((e) => { console.error(e); process.exit(1); });
