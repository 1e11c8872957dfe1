// Run a DDSP graph model (model.json + shard) with TensorFlow.js in Node, the way magenta.js does
// (music/src/ddsp/model.ts: custom op `Roll` = split axis 2 in halves and swap; predict({f0_hz, loudness_db})).
// Used by make_ddsp_fixtures.py to check the converted fixture. Needs @tensorflow/tfjs (npm ci --prefix tests/node):
//   NODE_PATH=tests/node/node_modules node exports/recipes/ddsp_tfjs_run.js MODEL_DIR inputs.json out_prefix
// inputs.json: {"f0_hz": [...], "loudness_db": [...], "fetch": ["node/name", ...]}
// Writes out_prefix + "audio.f32" and one out_prefix + "<i>.f32" per fetched node (raw little-endian float32).
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');

async function main() {
  const [dir, inputsFile, outPrefix] = process.argv.slice(2);
  const model = JSON.parse(fs.readFileSync(path.join(dir, 'model.json')));
  const specs = [];
  const buffers = [];
  for (const group of model.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) buffers.push(fs.readFileSync(path.join(dir, p)));
  }
  const data = Buffer.concat(buffers);
  const weightData = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
  tf.registerOp('Roll', (node) => {
    const halves = tf.split(node.inputs[0], 2, 2);
    return tf.concat([halves[1], halves[0]], 2);
  });
  const graph = await tf.loadGraphModel(tf.io.fromMemory({modelTopology: model.modelTopology, weightSpecs: specs, weightData}));
  const inputs = JSON.parse(fs.readFileSync(inputsFile));
  const feed = {f0_hz: tf.tensor1d(inputs.f0_hz, 'float32'), loudness_db: tf.tensor1d(inputs.loudness_db, 'float32')};
  const fetch = inputs.fetch || [];
  const outs = await graph.executeAsync(feed, [...graph.outputs.map((o) => o.name), ...fetch]);
  const list = Array.isArray(outs) ? outs : [outs];
  fs.writeFileSync(outPrefix + 'audio.f32', Buffer.from((await list[0].data()).buffer));
  for (let i = 0; i < fetch.length; i++) {
    fs.writeFileSync(outPrefix + i + '.f32', Buffer.from((await list[i + 1].data()).buffer));
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
