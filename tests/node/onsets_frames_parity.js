// Run @magenta/music's OnsetsAndFrames (the reference) in Node on a checkpoint directory and 16 kHz audio, and
// print what it computes as JSON: the log-mel features, the frame/onset probabilities, the MIDI velocities and the
// notes.
//
// usage: node onsets_frames_parity.js CHECKPOINT_DIR AUDIO.f32 OUT.json [CHUNK_LENGTH]
// AUDIO.f32 is raw little-endian float32 mono at 16 kHz. CHUNK_LENGTH (default 250) is the model's chunk length;
// a small value exercises its batching with receptive-field padding and LSTM state carried across chunks.
//
// The ES6 build loads in Node with a global `self` and a stub OfflineAudioContext (its Node build cannot:
// magenta-js issues #414, #496). The weights are read from disk with tfjs's own weights loader, then the model's
// own build() runs, exactly what initialize() does after fetching. The public transcribeFromAudioBuffer is run;
// its mel spectrogram and its processBatches outputs are observed by wrapping those two methods.
'use strict';
globalThis.self = globalThis;
globalThis.OfflineAudioContext = class {  // constructed at import; never used for 16 kHz input
  createBufferSource() { throw new Error('no OfflineAudioContext in Node: pass 16 kHz audio'); }
  decodeAudioData() { throw new Error('no OfflineAudioContext in Node: pass 16 kHz audio'); }
};
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');
const {OnsetsAndFrames} = require('@magenta/music/es6/transcription');

async function main() {
  const [dir, audioFile, outFile, chunkArg] = process.argv.slice(2);
  const chunkLength = chunkArg ? parseInt(chunkArg, 10) : 250;
  await tf.setBackend('cpu');
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'weights_manifest.json'), 'utf8'));
  const load = tf.io.weightsLoaderFactory(async (urls) => urls.map((u) => {
    const b = fs.readFileSync(u);
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  }));
  const vars = await load(manifest, dir);

  const model = new OnsetsAndFrames(dir, chunkLength);
  model.build(vars);
  Object.keys(vars).map((name) => vars[name].dispose());
  model.initialized = true;

  const out = {tfjs: tf.version.tfjs, backend: tf.getBackend(), chunkLength};
  const toMel = model.transcribeFromMelSpec.bind(model);
  model.transcribeFromMelSpec = (spec, ...rest) => {
    out.mel = spec;
    return toMel(spec, ...rest);
  };
  const processBatches = model.processBatches.bind(model);
  model.processBatches = (...args) => {
    const res = processBatches(...args);  // [frameProbs, onsetProbs, velocities], squeezed
    out.frame_probs = res[0].arraySync();
    out.onset_probs = res[1].arraySync();
    out.velocities = res[2].arraySync();
    return res;
  };

  const b = fs.readFileSync(audioFile);
  const audio = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  const audioBuffer = {
    sampleRate: 16000, numberOfChannels: 1, length: audio.length, duration: audio.length / 16000,
    getChannelData: () => audio,
  };
  const ns = await model.transcribeFromAudioBuffer(audioBuffer);
  out.notes = ns.notes.map((n) => [n.startTime || 0, n.endTime, n.pitch, n.velocity]);
  out.total_time = ns.totalTime;
  fs.writeFileSync(outFile, JSON.stringify(out));  // stdout carries the library's log lines
}

main().catch((e) => { console.error(e); process.exit(1); });
