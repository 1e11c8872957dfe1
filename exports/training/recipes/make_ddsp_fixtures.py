"""Regenerate the DDSP test fixtures (random weights) the way the real instrument files were made.

NEEDS THE HEAVY EXTRA (never the project venv): TensorFlow + the TensorFlow.js converter, in a separate venv::

    python3 -m venv /work/tfvenv
    /work/tfvenv/bin/pip install "tensorflow-cpu==2.18.*" "tf-keras==2.18.*"
    /work/tfvenv/bin/pip install --no-deps tensorflowjs==4.22.0 tensorflow-hub
    # tensorflowjs imports two packages it only needs for other model kinds; stub them:
    SP=/work/tfvenv/lib/python3.11/site-packages
    mkdir -p $SP/tensorflow_decision_forests && touch $SP/tensorflow_decision_forests/__init__.py
    # and in $SP/tensorflowjs/converters/__init__.py wrap `from ...jax_conversion import convert_jax` in try/except
    /work/tfvenv/bin/python exports/recipes/make_ddsp_fixtures.py

(The ``ddsp`` package itself does not install on current TensorFlow, so its model is re-created here layer for
layer with ``tf_keras``, the Keras 2 that ddsp used: ``ddsp/training/decoders.py`` RnnFcDecoder,
``ddsp/training/nn.py`` FcStack/Rnn, ``ddsp/core.py`` exp_sigmoid / harmonic_synthesis / frequency_filter,
``ddsp/synths.py`` Harmonic / FilteredNoise, ``ddsp/training/inference.py`` AutoencoderInference and
VSTStatelessPredictControls, ``ddsp/training/ddsp_export.py`` converter flags.)

Writes (seeded, deterministic weights):

``tests/fixtures/ddsp_tfjs/``
    ``model.json`` + ``group1-shard1of1.bin`` + ``settings.json``: a magenta.js-style graph model converted by
    ``tensorflowjs`` with ddsp_export's flags (``--control_flow_v2 --skip_op_check`` and float16 weights:
    ddsp_export's ``--quantize_float16=True``, spelled ``=*`` for tensorflowjs 4.x). Inputs
    ``f0_hz`` and ``loudness_db`` [1250] (250 frames/s, 5 s = magenta.js ``modelMaxFrameLength``), output 16 kHz
    audio [1, 80000] = harmonic + filtered noise (reverb left out: magenta.js adds its own reverb after the graph,
    and the reverb is outside our contract). The noise synth's ``fftshift`` is the ``Roll`` op magenta.js
    registers. Weights are rounded to float16 first, so the float16 storage is lossless and TensorFlow's output is
    the graph's own output.
    ``reference.npz``: inputs, the decoder's controls per frame, the graph's audio, and its harmonic part
    (TensorFlow running the SavedModel that was converted). LayerNorm is written as TF <= 2.1 Keras computed it
    (moments + batch_normalization), the form TF.js can run. When ``node`` and ``tests/node/node_modules`` are
    there, the converted ``model.json`` is also run by TensorFlow.js (``ddsp_tfjs_run.js``, custom ``Roll`` op
    registered as magenta.js does) and its controls/levels are checked against TensorFlow's.

``tests/fixtures/ddsp_tflite/``
    ``model.tflite``: DDSP-VST's controls contract (``VSTStatelessPredictControls``: inputs f0_scaled [1],
    pw_scaled [1], state [512]; outputs amps [1], hd [60], noise [65], state [512]), converted with DDSP-VST's
    ``TFLiteConverter`` settings (TFLITE_BUILTINS + SELECT_TF_OPS).
    ``reference.npz``: a 300-frame input sequence and the TFLite interpreter's outputs for every frame.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf
import tf_keras as keras

tfkl = keras.layers
ROOT = Path(__file__).resolve().parents[3]  # the repository
FIX = ROOT / "tests" / "fixtures"

SAMPLE_RATE = 16000
F0_RANGE = 127.0
LD_RANGE = 120.0  # ddsp < 1.0 spectral_ops.LD_RANGE: loudness in [-120, 0] dB (magenta.js LOWEST_LD = -120)
PW_RANGE = 80.0  # ddsp >= 1.0 DB_RANGE, DDSP-VST pw_scaled
N_HARMONICS = 60
N_NOISE = 65
OUTPUT_SPLITS = (("amps", 1), ("harmonic_distribution", N_HARMONICS), ("noise_magnitudes", N_NOISE))

# Decoder size: DDSP-VST's vst.gin (GRU 512, FC 256 x 1 layer); see exports/ddsp_graph.py for why the hosted
# magenta.js files are consistent with it (float16 shards).
RNN_CH = 512
FC_CH = 256
LAYERS = 1

TFJS_FRAMES = 1250
TFJS_HOP = 64
VST_FRAMES = 300
SETTINGS = {"averageMaxLoudness": -48.6, "loudnessThreshold": -100, "meanLoudness": -68.5,
            "meanPitch": 62.0, "postGain": 2, "modelMaxFrameLength": TFJS_FRAMES}


# ----------------------------------------------------------------------------------------- ddsp re-creation

def exp_sigmoid(x, exponent=10.0, max_value=2.0, threshold=1e-7):
    return max_value * tf.nn.sigmoid(x) ** tf.math.log(exponent) + threshold


def hz_to_midi(f):
    notes = 12.0 * (tf.math.log(f) / tf.math.log(2.0) - tf.math.log(440.0) / tf.math.log(2.0)) + 69.0
    return tf.where(tf.less_equal(f, 0.0), 0.0, notes)


def midi_to_hz(notes):
    return 440.0 * (2.0 ** ((notes - 69.0) / 12.0))


class LayerNorm21(tfkl.Layer):
    """Keras LayerNormalization as TF <= 2.1 computed it (``nn.moments`` + ``nn.batch_normalization``).

    Newer Keras emits ``FusedBatchNormV3(is_training=True)`` with empty mean/variance, which TensorFlow.js runs
    as NaN; the hosted magenta.js graphs (2020) run in TF.js, so they have this unfused form.
    """

    def __init__(self, epsilon=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, shape):
        self.gamma = self.add_weight(name="gamma", shape=shape[-1:], initializer="ones")
        self.beta = self.add_weight(name="beta", shape=shape[-1:], initializer="zeros")

    def call(self, x):
        mean, variance = tf.nn.moments(x, [-1], keepdims=True)
        return tf.nn.batch_normalization(x, mean, variance, offset=self.beta, scale=self.gamma,
                                         variance_epsilon=self.epsilon)


class Fc(keras.Sequential):
    def __init__(self, ch, unfused_norm=False, **kwargs):
        norm = LayerNorm21() if unfused_norm else tfkl.LayerNormalization()
        super().__init__([tfkl.Dense(ch), norm, tfkl.Activation(tf.nn.leaky_relu)], **kwargs)


class FcStack(keras.Sequential):
    def __init__(self, ch, layers, unfused_norm=False, **kwargs):
        super().__init__([Fc(ch, unfused_norm) for _ in range(layers)], **kwargs)


class RnnFcDecoder(keras.layers.Layer):
    """ddsp.training.decoders.RnnFcDecoder (+ its ``stateless`` variant used by DDSP-VST's export)."""

    def __init__(self, input_keys, stateless=False, unfused_norm=False, **kwargs):
        super().__init__(**kwargs)
        self.input_keys = input_keys
        self.stateless = stateless
        self.input_stacks = [FcStack(FC_CH, LAYERS, unfused_norm) for _ in input_keys]
        self.rnn = tfkl.GRU(RNN_CH, return_sequences=True, return_state=stateless)
        self.out_stack = FcStack(FC_CH, LAYERS, unfused_norm)
        self.dense_out = tfkl.Dense(sum(n for _, n in OUTPUT_SPLITS))

    def call(self, inputs, state=None):
        xs = [stack(x) for stack, x in zip(self.input_stacks, inputs)]
        x = tf.concat(xs, axis=-1)
        if self.stateless:
            x, new_state = self.rnn(x, initial_state=state)
        else:
            x = self.rnn(x)
        x = tf.concat(xs + [x], axis=-1)
        x = self.dense_out(self.out_stack(x))
        amps, hd, noise = tf.split(x, [n for _, n in OUTPUT_SPLITS], axis=-1)
        return (amps, hd, noise, new_state) if self.stateless else (amps, hd, noise)


def harmonic_controls(amps, hd, f0_hz):
    """ddsp.synths.Harmonic.get_controls (normalize_below_nyquist=True, scale_fn=exp_sigmoid)."""
    amplitudes = exp_sigmoid(amps)
    hd = exp_sigmoid(hd)
    freqs = f0_hz * tf.linspace(1.0, float(N_HARMONICS), N_HARMONICS)
    hd = hd * tf.cast(tf.less(freqs, SAMPLE_RATE / 2.0), tf.float32)  # = tf.where(f >= nyquist, 0, hd)
    total = tf.reduce_sum(hd, axis=-1, keepdims=True)
    hd = hd / tf.where(tf.equal(total, 0.0), 1e-7, total)
    return amplitudes, hd


def resample_linear(x, n_samples):
    """ddsp.core.resample(method='linear', add_endpoint=True): v1 bilinear resize, align_corners=False."""
    y = tf.compat.v1.image.resize_bilinear(x[:, :, tf.newaxis, :], [n_samples, 1], align_corners=False)
    return y[:, :, 0, :]


def harmonic_synthesis(f0_hz, amplitudes, hd, n_samples):
    """ddsp.core.harmonic_synthesis + oscillator_bank (tf.cumsum phases, amp_resample_method='linear')."""
    harm_freqs = f0_hz * tf.linspace(1.0, float(N_HARMONICS), N_HARMONICS)
    harm_amps = amplitudes * hd
    freq_env = resample_linear(harm_freqs, n_samples)
    amp_env = resample_linear(harm_amps, n_samples)
    # ddsp writes tf.where(f >= nyquist, zeros_like(a), a); the converter would fold zeros_like into a 19 MB
    # constant, so the same mask is written as a product here.
    amp_env = amp_env * tf.cast(tf.less(freq_env, SAMPLE_RATE / 2.0), tf.float32)
    omegas = freq_env * (2.0 * np.pi) / float(SAMPLE_RATE)
    phases = tf.cumsum(omegas, axis=1)
    return tf.reduce_sum(amp_env * tf.sin(phases), axis=-1)


def frequency_filter(audio, magnitudes):
    """ddsp.core.frequency_filter(window_size=0, padding='same') = impulse response + fft_convolve."""
    ir = tf.signal.irfft(tf.complex(magnitudes, tf.zeros_like(magnitudes)))
    ir_size = int(ir.shape[-1])
    window = tf.signal.fftshift(tf.signal.hann_window(ir_size), axes=-1)
    ir = tf.signal.fftshift(window * ir, axes=-1)  # the `Roll` op of magenta.js
    batch, audio_size = audio.shape.as_list()
    n_frames = int(ir.shape[1])
    frame = int(np.ceil(audio_size / n_frames))
    frames = tf.signal.frame(audio, frame, frame, pad_end=True)
    fft_size = int(2 ** np.ceil(np.log2(ir_size + frame - 1)))
    out = tf.signal.irfft(tf.signal.rfft(frames, [fft_size]) * tf.signal.rfft(ir, [fft_size]))
    out = tf.signal.overlap_and_add(out, frame)
    start = (ir_size - 1) // 2 - 1
    end = int(out.shape[-1]) - audio_size - start
    return out[:, start:-end]


def filtered_noise(magnitudes, n_samples):
    """ddsp.synths.FilteredNoise.get_signal (uniform noise in [-1, 1], exp-sigmoid magnitudes)."""
    noise = tf.random.uniform([int(magnitudes.shape[0]), n_samples], minval=-1.0, maxval=1.0)
    return frequency_filter(noise, magnitudes)


def randomize(layer, seed):
    """Seeded random weights, rounded to float16 (lossless float16 storage), biases and norms non-trivial."""
    rng = np.random.default_rng(seed)
    for w in layer.weights:
        shape = tuple(w.shape)
        name = w.name
        if "gamma" in name:
            v = 1.0 + 0.2 * rng.standard_normal(shape)
        elif "beta" in name or "bias" in name:
            v = 0.2 * rng.standard_normal(shape)
        else:
            fan_in = shape[0] if len(shape) > 1 else 1
            v = rng.standard_normal(shape) * (1.2 / np.sqrt(fan_in))
        w.assign(v.astype(np.float16).astype(np.float32))


# ------------------------------------------------------------------------------------------ tfjs graph model

class AutoencoderInference(tf.Module):
    """magenta.js graph: f0_hz, loudness_db [n_frames] -> audio [1, n_samples]."""

    def __init__(self, decoder, n_frames, hop):
        super().__init__()
        self.decoder = decoder
        self.n_frames = n_frames
        self.n_samples = n_frames * hop

    def controls(self, f0_hz, loudness_db):
        f0_hz = tf.reshape(f0_hz, [1, -1, 1])
        ld = tf.reshape(loudness_db, [1, -1, 1])
        f0_scaled = hz_to_midi(f0_hz) / F0_RANGE
        ld_scaled = ld / LD_RANGE + 1.0
        amps, hd, noise = self.decoder([ld_scaled, f0_scaled])
        amplitudes, hd = harmonic_controls(amps, hd, f0_hz)
        return f0_hz, amplitudes, hd, exp_sigmoid(noise)

    def harmonic(self, f0_hz, loudness_db):
        f0, amplitudes, hd, _ = self.controls(f0_hz, loudness_db)
        return harmonic_synthesis(f0, amplitudes, hd, self.n_samples)

    @tf.function
    def __call__(self, f0_hz, loudness_db):
        f0, amplitudes, hd, noise_mags = self.controls(f0_hz, loudness_db)
        harm = harmonic_synthesis(f0, amplitudes, hd, self.n_samples)
        noise = filtered_noise(noise_mags, self.n_samples)
        return harm + noise


def tfjs_inputs():
    """A 5 s phrase: silence (0 Hz) first so streaming and offline phases line up, glides, vibrato, gaps."""
    t = np.arange(TFJS_FRAMES) / 250.0
    midi = 57 + 12 * np.clip((t - 0.2) / 3.0, 0, 1) + 0.4 * np.sin(2 * np.pi * 5.5 * t)
    f0 = 440.0 * 2 ** ((midi - 69) / 12)
    ld = -30 - 12 * np.abs(np.sin(2 * np.pi * 0.7 * t)) + 3 * np.sin(2 * np.pi * 6 * t)
    silent = (t < 0.1) | ((t > 2.0) & (t < 2.15)) | (t > 4.8)
    f0[silent] = 0.0
    ld[silent] = -120.0
    ld[(t > 3.3) & (t < 3.5)] = -75.0  # quiet but pitched
    f0[(t > 4.0) & (t < 4.3)] *= 4.5  # high notes: harmonics above Nyquist get masked
    return f0.astype(np.float32), ld.astype(np.float32)


def make_tfjs(seed=20240605):
    out = FIX / "ddsp_tfjs"
    tf.random.set_seed(seed)
    decoder = RnnFcDecoder(("ld_scaled", "f0_scaled"), unfused_norm=True, name="rnn_fc_decoder")
    model = AutoencoderInference(decoder, TFJS_FRAMES, TFJS_HOP)
    f0, ld = tfjs_inputs()
    model.controls(tf.constant(f0), tf.constant(ld))  # build
    randomize(decoder, seed)
    n_params = sum(int(np.prod(w.shape)) for w in decoder.weights)
    spec = [tf.TensorSpec([TFJS_FRAMES], tf.float32, name="f0_hz"),
            tf.TensorSpec([TFJS_FRAMES], tf.float32, name="loudness_db")]
    sig = model.__call__.get_concrete_function(*spec)
    with tempfile.TemporaryDirectory() as tmp:
        saved = Path(tmp) / "saved_model"
        tf.saved_model.save(model, str(saved), signatures={"serving_default": sig})
        conv = Path(tmp) / "tfjs"
        subprocess.run([sys.executable, "-m", "tensorflowjs.converters.converter",
                        "--input_format=tf_saved_model", "--signature_name=serving_default",
                        "--control_flow_v2=True", "--skip_op_check", "--quantize_float16=*",
                        str(saved), str(conv)], check=True)
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        for f in conv.iterdir():
            shutil.copy(f, out / f.name)
        # Reference: the graph's own output (TensorFlow, the SavedModel that was converted).
        loaded = tf.saved_model.load(str(saved))
        audio = loaded.signatures["serving_default"](f0_hz=tf.constant(f0), loudness_db=tf.constant(ld))
        audio = list(audio.values())[0].numpy()[0]
    (out / "settings.json").write_text(json.dumps(SETTINGS))
    f0_t, amplitudes, hd, noise = model.controls(tf.constant(f0), tf.constant(ld))
    harm = model.harmonic(tf.constant(f0), tf.constant(ld)).numpy()[0]
    np.savez_compressed(out / "reference.npz", f0_hz=f0, loudness_db=ld,
                        amplitude=amplitudes.numpy()[0, :, 0], harmonic_distribution=hd.numpy()[0],
                        noise_magnitudes=noise.numpy()[0], audio=audio.astype(np.float32),
                        harmonic_audio=harm.astype(np.float32),
                        sample_rate=SAMPLE_RATE, hop=TFJS_HOP, ld_range=LD_RANGE, n_params=n_params)
    print(f"tfjs fixture: {n_params} decoder params; shard {(out / 'group1-shard1of1.bin').stat().st_size} bytes")
    check_in_tfjs(out, f0, ld, harm, audio, amplitudes.numpy()[0, :, 0])


def check_in_tfjs(out, f0, ld, harm, audio, amplitude):
    """Run the converted model.json with TensorFlow.js in Node, as magenta.js does (Roll op), if available.

    TF.js computes with the float16-stored constants too (1/127, ln 10, 2*pi/sr, ...), so its controls differ
    from TensorFlow's by ~1e-4 and its oscillator phases drift apart; the check is on controls and noise level.
    """
    node_modules = ROOT / "tests" / "node" / "node_modules"
    if not shutil.which("node") or not (node_modules / "@tensorflow" / "tfjs").is_dir():
        print("tfjs check skipped: needs node and `npm ci --prefix tests/node`")
        return
    model = json.loads((out / "model.json").read_text())
    nodes = {n["name"]: n for n in model["modelTopology"]["node"]}
    consumers = {}
    for n in nodes.values():
        for i in n.get("input", []):
            consumers.setdefault(i, []).append(n)
    final = nodes[nodes["Identity"]["input"][0]]  # harmonic + noise
    harm_node = next(i for i in final["input"] if nodes[i.split(":")[0]]["op"] == "Sum")
    split = next(n for n in nodes.values() if n["op"] == "SplitV")
    t = split["name"]
    for op in ("Pow", "Mul", "AddV2"):  # exp-sigmoid of split output 0 = amplitude
        t = next(n["name"] for n in consumers[t] if n["op"] == op)
    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp) / "in.json"
        inputs.write_text(json.dumps({"f0_hz": f0.tolist(), "loudness_db": ld.tolist(), "fetch": [harm_node, t]}))
        env = dict(os.environ, NODE_PATH=str(node_modules))
        subprocess.run(["node", str(Path(__file__).with_name("ddsp_tfjs_run.js")), str(out), str(inputs),
                        str(Path(tmp) / "o_")], check=True, env=env, capture_output=True)
        js_audio = np.fromfile(Path(tmp) / "o_audio.f32", "<f4")
        js_harm = np.fromfile(Path(tmp) / "o_0.f32", "<f4")
        js_amp = np.fromfile(Path(tmp) / "o_1.f32", "<f4")
    assert np.isfinite(js_audio).all(), "TF.js output is not finite"
    amp_err = float(np.abs(js_amp - amplitude).max())
    noise_js, noise_tf = js_audio - js_harm, audio - harm
    print(f"TF.js vs TF: amplitude max |diff| {amp_err:.2e} (max {np.abs(amplitude).max():.3f}); harmonic rms "
          f"{np.sqrt(np.mean(js_harm ** 2)):.4f} vs {np.sqrt(np.mean(harm ** 2)):.4f}; noise rms "
          f"{np.sqrt(np.mean(noise_js ** 2)):.4f} vs {np.sqrt(np.mean(noise_tf ** 2)):.4f}")
    assert amp_err < 2e-3 * max(1.0, float(np.abs(amplitude).max()))


# ------------------------------------------------------------------------------------ DDSP-VST .tflite model

class VSTStatelessPredictControls(tf.Module):
    def __init__(self, decoder):
        super().__init__()
        self.decoder = decoder

    @tf.function
    def call(self, f0_scaled, pw_scaled, state):
        f0_scaled = tf.reshape(f0_scaled, [1, 1, 1])
        pw_scaled = tf.reshape(pw_scaled, [1, 1, 1])
        state = tf.reshape(state, [1, RNN_CH])
        f0_hz = midi_to_hz(f0_scaled * F0_RANGE)  # preprocessing.inv_scale_f0_hz
        amps, hd, noise, new_state = self.decoder([pw_scaled, f0_scaled], state=state)
        amplitudes, hd = harmonic_controls(amps, hd, f0_hz)
        return amplitudes[0, 0], hd[0, 0], exp_sigmoid(noise)[0, 0], new_state[0]


def vst_inputs():
    t = np.arange(VST_FRAMES) / 50.0
    midi = 60 + 7 * np.sin(2 * np.pi * 0.25 * t) + 0.3 * np.sin(2 * np.pi * 5 * t)
    f0 = 440.0 * 2 ** ((midi - 69) / 12)
    f0[(t > 2.0) & (t < 2.4)] *= 6.0
    pw_db = np.maximum(-80.0, -25 - 20 * np.abs(np.sin(2 * np.pi * 0.3 * t)))
    pw_db[(t > 4.0) & (t < 4.5)] = -80.0
    f0_scaled = np.where(f0 > 0, (12 * np.log2(f0 / 440.0) + 69) / F0_RANGE, 0.0)
    return f0_scaled.astype(np.float32), (pw_db / PW_RANGE + 1.0).astype(np.float32)


def make_tflite(seed=20240606):
    out = FIX / "ddsp_tflite"
    decoder = RnnFcDecoder(("pw_scaled", "f0_scaled"), stateless=True, name="rnn_fc_decoder")
    module = VSTStatelessPredictControls(decoder)
    module.call(tf.zeros([1]), tf.zeros([1]), tf.zeros([RNN_CH]))
    randomize(decoder, seed)
    sig = module.call.get_concrete_function(
        f0_scaled=tf.TensorSpec([1], tf.float32), pw_scaled=tf.TensorSpec([1], tf.float32),
        state=tf.TensorSpec([RNN_CH], tf.float32))
    with tempfile.TemporaryDirectory() as tmp:
        tf.saved_model.save(module, tmp, signatures={"call": sig})
        conv = tf.lite.TFLiteConverter.from_saved_model(tmp)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
        blob = conv.convert()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / "model.tflite").write_bytes(blob)
    # Reference: the TFLite interpreter, frame by frame, state fed back.
    interp = tf.lite.Interpreter(model_content=blob)
    runner = interp.get_signature_runner("call")
    f0s, pws = vst_inputs()
    state = np.zeros(RNN_CH, np.float32)
    rec = {k: [] for k in ("amplitude", "harmonic_distribution", "noise_magnitudes", "state")}
    tf_rec = []
    for i in range(VST_FRAMES):
        res = runner(f0_scaled=f0s[i:i + 1], pw_scaled=pws[i:i + 1], state=state)
        outs = [res[k] for k in sorted(res)]  # output_0..output_3 = amps, hd, noise, state
        rec["amplitude"].append(outs[0].reshape(-1))
        rec["harmonic_distribution"].append(outs[1].reshape(-1))
        rec["noise_magnitudes"].append(outs[2].reshape(-1))
        if i < 20:  # TensorFlow itself on the first frames, to check the TFLite conversion
            tf_out = module.call(tf.constant(f0s[i:i + 1]), tf.constant(pws[i:i + 1]), tf.constant(state))
            tf_rec.append(np.concatenate([np.ravel(o.numpy()) for o in tf_out[:3]]))
            ref = np.concatenate([outs[0].ravel(), outs[1].ravel(), outs[2].ravel()])
            assert np.max(np.abs(ref - tf_rec[-1])) < 1e-5, np.max(np.abs(ref - tf_rec[-1]))
        state = outs[3].reshape(-1).astype(np.float32)
        rec["state"].append(state)
    np.savez_compressed(out / "reference.npz", f0_scaled=f0s, pw_scaled=pws,
                        **{k: np.asarray(v, np.float32) for k, v in rec.items()})
    print(f"tflite fixture: {len(blob)} bytes; outputs {sorted(res)}")


if __name__ == "__main__":
    os.chdir(ROOT)
    which = sys.argv[1:] or ["tfjs", "tflite"]
    if "tfjs" in which:
        make_tfjs()
    if "tflite" in which:
        make_tflite()
