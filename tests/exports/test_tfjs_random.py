"""tfjs's random draws reproduced (seedrandom alea, JS number strings, the multinomial cdf rule), against Node."""
from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from tonehost.exports.tfjs.random import (alea, js_number_to_string, mulberry32, multinomial_from_probs,
                                          softmax32)

from conftest import NODE_DIR

_JS = r"""
const alea = require('seedrandom/lib/alea');
const tf = require('@tensorflow/tfjs');
function mulberry32(a) { return function() { a |= 0; a = a + 0x6D2B79F5 | 0;
  let t = Math.imul(a ^ a >>> 15, 1 | a); t = t + Math.imul(t ^ t >>> 7, 61 | t) ^ t;
  return ((t ^ t >>> 14) >>> 0) / 4294967296; }; }
(async () => {
  await tf.setBackend('cpu');
  const m = mulberry32(777); const draws = [];
  for (let i = 0; i < 300; i++) { const s = m(); draws.push([s, String(s), alea(String(s))()]); }
  const odd = [1e-7, 2.5e-7, 0.000001, 0.00001234, 1e21, 1.5e21, 123456789012345680000, 0.1, 5e-324, 1/3];
  const strings = odd.map((x) => [x, String(x), alea(String(x))()]);
  Math.random = mulberry32(99);
  const logits = tf.tensor1d(JSON.parse(process.argv[process.argv.length - 1]));
  const picks = []; for (let i = 0; i < 200; i++) picks.push(tf.multinomial(logits, 1).dataSync()[0]);
  console.log(JSON.stringify({draws, strings, picks}));
})();
"""

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (NODE_DIR / "node_modules" / "@tensorflow" / "tfjs").is_dir(),
    reason="needs node and `npm ci --prefix tests/node`")


def test_alea_strings_and_multinomial_match_node():
    logits = np.random.default_rng(1).standard_normal(40).astype(np.float32) * 2
    out = subprocess.run(["node", "-e", _JS, json.dumps(logits.tolist())], capture_output=True, text=True,
                         cwd=NODE_DIR, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    ref = json.loads(out.stdout)
    m = mulberry32(777)
    for s, text, r in ref["draws"]:
        assert m() == s and js_number_to_string(s) == text and alea(text)() == r
    for x, text, r in ref["strings"]:
        assert js_number_to_string(x) == text and alea(text)() == r
    rnd = mulberry32(99)
    probs = softmax32(logits)
    ours = [multinomial_from_probs(probs, alea(js_number_to_string(rnd()))()) for _ in range(200)]
    assert ours == ref["picks"] and len(set(ours)) > 10
