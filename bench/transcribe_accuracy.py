"""Note accuracy (mir_eval onset-only and with offsets) of O&F transcription, offline vs streaming.

Data: the piano recordings in shared/data/piano (Bach BWV 846 synthesized, 25.5 s; stereo_sample, real piano,
4 s) and longer piano audio rendered with FluidSynth from MIDI (piano_sample.mid and a seeded random piece),
whose MIDI is the exact ground truth. Streaming runs 48 kHz-style blocks of 128 samples (after resampling to the
file's rate) through the same runner as live mode and must lose nothing: its notes must equal the offline ones.

    .venv/bin/python -m bench.transcribe_accuracy [--checkpoint onsets_frames_uni] [--seconds 60]

With no --checkpoint the weights are random: the F1 figures then measure plumbing only (expect ~0).
"""
from __future__ import annotations

import argparse

import mir_eval
import numpy as np
import soundfile as sf

from bench._common import tmpdir
from bench.transcribe_common import DATA, midi_notes, model_path, random_piano_midi, reference_notes, render, save


def scores(ref_iv, ref_p, notes):
    est_iv = np.array([[n.start_time, max(n.end_time, n.start_time + 1e-3)] for n in notes]).reshape(-1, 2)
    est_p = np.array([n.pitch for n in notes], dtype=float)
    hz = lambda p: 440.0 * 2 ** ((np.asarray(p, float) - 69) / 12)  # noqa: E731
    on = mir_eval.transcription.precision_recall_f1_overlap(ref_iv, hz(ref_p), est_iv, hz(est_p),
                                                            offset_ratio=None)
    off = mir_eval.transcription.precision_recall_f1_overlap(ref_iv, hz(ref_p), est_iv, hz(est_p))
    return {"P": round(on[0], 4), "R": round(on[1], 4), "F1": round(on[2], 4), "F1_with_offsets": round(off[2], 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", help="checkpoint id or directory (default: random weights)")
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the random rendered piece")
    args = ap.parse_args()
    from tonehost.exports.onnx_session import make_session
    from tonehost.realtime.pipelines.transcriber import transcribe_array

    tmp = tmpdir()
    model, what = model_path(args.checkpoint, tmp)
    sess = make_session(model)
    items = []
    for name in ("FMP_C1_F12_Bach_BWV846_Sibelius-Tracks", "stereo_sample"):
        audio, sr = sf.read(DATA / f"{name}.wav", dtype="float32", always_2d=True)
        items.append((name, audio, sr, *reference_notes(name)))
    render(DATA / "piano_sample.mid", tmp / "piano_sample.wav")
    audio, sr = sf.read(tmp / "piano_sample.wav", dtype="float32", always_2d=True)
    items.append(("piano_sample.mid (FluidSynth)", audio, sr, *midi_notes(DATA / "piano_sample.mid")))
    iv, p = random_piano_midi(tmp / "random.mid", args.seconds)
    render(tmp / "random.mid", tmp / "random.wav")
    audio, sr = sf.read(tmp / "random.wav", dtype="float32", always_2d=True)
    items.append((f"random piece {args.seconds:.0f} s (FluidSynth)", audio, sr, iv, p))

    print(f"model: {what}")
    print(f"{'audio':42s} {'ref':>5s} {'est':>5s} {'P':>6s} {'R':>6s} {'F1':>6s} {'F1off':>6s}  stream==offline")
    out = {"model": what, "items": []}
    for name, audio, sr, ref_iv, ref_p in items:
        off = transcribe_array(sess, audio, sr)
        st = transcribe_array(sess, audio, sr, block=128)
        same = st.notes == off.notes
        s_off, s_st = scores(ref_iv, ref_p, off.notes), scores(ref_iv, ref_p, st.notes)
        print(f"{name:42s} {len(ref_p):5d} {len(off.notes):5d} {s_off['P']:6.3f} {s_off['R']:6.3f} "
              f"{s_off['F1']:6.3f} {s_off['F1_with_offsets']:6.3f}  {same}")
        out["items"].append({"audio": name, "seconds": len(audio) / sr, "ref_notes": int(len(ref_p)),
                             "offline": {"notes": len(off.notes), **s_off},
                             "streaming": {"notes": len(st.notes), **s_st}, "streaming_equals_offline": same})
    print("->", save("transcribe_accuracy", out))


if __name__ == "__main__":
    main()
