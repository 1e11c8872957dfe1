// Load a TensorFlow.js checkpoint directory with the npm tfjs loader and print every weight as JSON.
//
// usage: node load_tfjs_weights.js DIR
// DIR holds weights_manifest.json (layers checkpoint) or model.json (graph model) and the shards.
// Output: {"name": {"dtype": "float32", "shape": [..], "values": [..]}, ...}; values are the exact float32
// (or int32) numbers tfjs holds (JSON numbers round-trip float64, hence float32, exactly).
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');

async function main() {
  const dir = process.argv[2];
  let manifest;
  if (fs.existsSync(path.join(dir, 'weights_manifest.json'))) {
    manifest = JSON.parse(fs.readFileSync(path.join(dir, 'weights_manifest.json'), 'utf8'));
  } else {
    manifest = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')).weightsManifest;
  }
  // The same loader tf.io.loadWeights / browserHTTPRequest use, with the shards read from disk.
  const load = tf.io.weightsLoaderFactory(async (urls) => urls.map((u) => {
    const b = fs.readFileSync(u);
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  }));
  const tensors = await load(manifest, dir);
  const out = {};
  for (const name of Object.keys(tensors)) {
    const t = tensors[name];
    out[name] = {dtype: t.dtype, shape: t.shape, values: Array.from(t.dataSync())};
  }
  process.stdout.write(JSON.stringify({tfjs: tf.version.tfjs, weights: out}));
}

main().catch((e) => { console.error(e); process.exit(1); });
