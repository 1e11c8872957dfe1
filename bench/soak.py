"""Long live sessions: ``tonehost play`` and ``tonehost transcribe --live`` for 30 minutes each on looped input.

Each mode runs on a private JACK dummy server (48 kHz, 128 frames) with the C reference client
``jack_simple_client`` beside it, and a JACK player (a child process) looping a real recording into
``tonehost:in_0``: the MDB-stem-synth singing voice for ``play`` (the shipped violin), the Bach prelude
(FMP, 25.5 s) for ``transcribe --live`` (the shipped piano model). The CLI runs as a user runs it. Every
``--every`` seconds (10 by default) the bench samples

- the tonehost process's resident memory (``VmRSS`` of ``/proc/PID/status``),
- xruns per client from the server's log in the same window (``JackEngine::XRun: client = NAME was not
  finished, state = S``), judged on the cycles each made late itself (``Running``; a client waiting on a late
  one upstream is ``Triggered``): tonehost against two C reference clients, ``jack_latent_client`` (``latent``)
  fed by the same looping player, i.e. at tonehost's place in the graph (a cycle the player ends late starts both
  late: the fair comparison, and the one judged), and ``jack_simple_client``, which has no input and runs
  beside the rest from the start of every cycle (reported),
- the notes printed so far (``transcribe``) or the output meter (``play``),
- page faults, run-queue wait, preemptions and CPU time of tonehost's audio thread (the JACK thread that runs the
  callback) and of ``jack_latent_client``'s, and the fault rate of tonehost's other threads (:func:`thread_stats`).

At the end each client's own late cycles are split into those right after a cycle the looping player made late
(the tail of a late start) and the rest (:func:`late_after_upstream`).

It prints, per mode: the RSS slope after warm-up (least squares, MB per 10 minutes; target <= 1), xruns of
tonehost and of the references, notes per minute (mean and spread) and the command's own summary; writes
``bench/results/soak.json`` and ``bench/results/soak.png`` (RSS and cumulative xruns over time, notes per
minute). ``--check`` exits 1 when a target is missed: flat memory (slope <= 1 MB / 10 min after warm-up; in runs
shorter than 5 minutes, where a slope is noise, growth after warm-up <= 2 MB), tonehost's own late cycles no
more than those of the C reference at its place in the graph + 3, notes in every interval after the first.

    .venv/bin/python -m bench.soak                      # 30 minutes per mode (about an hour)
    .venv/bin/python -m bench.soak --seconds 30 --every 2 --check   # the 60-second version the tests run
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench._common import RESULTS, ROOT, SHARED_DATA, save_json, tmpdir

VOICE = SHARED_DATA / "voice" / "mdb_stem_synth" / "AClassicEducation_NightOwl_STEM_08.RESYN.wav"
PIANO = SHARED_DATA / "piano" / "FMP_C1_F12_Bach_BWV846_Sibelius-Tracks.wav"
ON_LINE = r"^\s*[\d.]+ s\s+on\s+"
OUT_DB = re.compile(r"out\s+(-?[\d.]+) dB")


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (``VmRSS``), NaN once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def thread_stats(pid: int) -> dict:
    """Page faults and scheduling of process ``pid``'s audio thread(s) and of its other threads.

    The audio thread is the real-time thread (``SCHED_FIFO``/``SCHED_RR``) at the process's highest priority:
    libjack's process thread, which runs the callback (``play``'s worker runs one step below it and counts with
    the other threads; so does every thread of a process with none). Read from ``/proc/PID/task/TID/stat``
    (fields 10 ``minflt``, 12 ``majflt``, 40 ``rt_priority``, 41 ``policy``; proc(5)), ``.../schedstat`` (first
    number: nanoseconds on a CPU, second: runnable but waiting for one) and ``.../status``
    (``nonvoluntary_ctxt_switches``: preemptions).

    Returns
    -------
    dict
        ``rt_minflt``, ``rt_majflt``, ``rt_wait_ms``, ``rt_cpu_ms``, ``rt_nvcsw`` summed over the audio thread(s),
        ``other_minflt`` and ``other_majflt`` over the others, all cumulative since each thread started; empty
        once the process is gone.
    """
    out = {"rt_minflt": 0, "rt_majflt": 0, "rt_wait_ms": 0.0, "rt_cpu_ms": 0.0, "rt_nvcsw": 0, "other_minflt": 0,
           "other_majflt": 0}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return {}
    threads = []
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            # minflt, majflt, rt_priority (0 unless SCHED_FIFO / SCHED_RR)
            threads.append((tid, int(fields[7]), int(fields[9]),
                            int(fields[37]) if int(fields[38]) in (1, 2) else 0))
        except (OSError, IndexError, ValueError):
            continue
    top = max((prio for *_, prio in threads), default=0)
    for tid, minflt, majflt, prio in threads:
        if top == 0 or prio != top:
            out["other_minflt"] += minflt
            out["other_majflt"] += majflt
            continue
        base = f"/proc/{pid}/task/{tid}"
        try:
            with open(f"{base}/schedstat") as f:
                cpu_ns, wait_ns = (int(v) for v in f.read().split()[:2])
            with open(f"{base}/status") as f:
                nvcsw = next((int(l.split()[1]) for l in f if l.startswith("nonvoluntary_ctxt_switches")), 0)
        except (OSError, IndexError, ValueError):
            continue
        out["rt_minflt"] += minflt
        out["rt_majflt"] += majflt
        out["rt_wait_ms"] += wait_ns / 1e6
        out["rt_cpu_ms"] += cpu_ns / 1e6
        out["rt_nvcsw"] += nvcsw
    return out


def late_after_upstream(log_path: str, offset: int, upstream: str = "soak_player") -> dict:
    """Each client's own late cycles (``Running``) in the server log from byte ``offset``, and how many of them came
    right after a cycle that ``upstream`` (the looping player) made late or in which the client still waited for
    it (``Triggered``): the tail of a cycle that started late, as opposed to a cycle the client alone made late.

    jackd checks every client at the start of each cycle and writes one ``JackEngine::XRun: client = NAME was not
    finished, state = S`` line per client it finds unfinished, then ``Process error``: one group per late cycle.

    Returns
    -------
    dict
        ``{client: [late cycles, of which right after an upstream-late cycle]}``.
    """
    groups, cur = [], []
    try:
        with open(log_path, "rb") as f:
            f.seek(offset)
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return {}
    for line in text.splitlines():
        m = re.search(r"client = (\S+) was not finished, state = (\w+)", line)
        if m:
            cur.append((m.group(1), m.group(2)))
        elif "Process error" in line:
            groups.append(cur)
            cur = []
    groups.append(cur)
    out: dict[str, list[int]] = {}
    for i, group in enumerate(groups):
        prev = groups[i - 1] if i else []
        for name, state in group:
            if state != "Running" or name == upstream:
                continue
            row = out.setdefault(name, [0, 0])
            row[0] += 1
            row[1] += int((upstream, "Running") in prev or (name, "Triggered") in prev)
    return out


def slope_mb_per_10min(t_s: np.ndarray, rss: np.ndarray, warmup_s: float) -> tuple[float, float]:
    """(least-squares slope in MB per 10 minutes, growth in MB) of RSS after ``warmup_s``."""
    keep = (t_s >= warmup_s) & np.isfinite(rss)
    if keep.sum() < 2:
        return float("nan"), float("nan")
    t, r = t_s[keep], rss[keep]
    slope = float(np.polyfit(t / 600.0, r, 1)[0])
    return slope, float(r[-1] - r[0])


def run_mode(mode: str, seconds: float, every: float, work: Path, reference_last: bool = False) -> dict:
    """One soak run of ``play`` or ``transcribe``; returns its samples and summary.

    ``reference_last``: start ``jack_latent_client`` after tonehost instead of before (JACK2 signals the clients
    behind the player in the order they registered, so this puts tonehost first in each cycle).
    """
    from tonehost.realtime.testing import jack
    from tonehost.realtime.testing.player import LoopPlayer
    from tonehost.realtime.testing.proc import Lines

    log = work / f"jackd-{mode}.log"
    with jack.private_server(48000, 128, log_path=str(log)) as server:
        os.environ["JACK_DEFAULT_SERVER"] = server.name  # the reference client and the jack_* tools
        if mode == "play":
            cmd, audio = ["play"], VOICE
        else:
            cmd, audio = ["transcribe", "--live", "-o", str(work / "take.mid")], PIANO
        after, xlog = reference_last, None
        with contextlib.ExitStack() as stack:
            ref = stack.enter_context(jack.ReferenceClient())
            ref_in = None if after else stack.enter_context(jack.InputReferenceClient())
            # no --duration: the session ends with Ctrl-C (SIGINT) after the window, the normal stop
            proc = subprocess.Popen([sys.executable, "-m", "tonehost", *cmd], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=server.env)
            out, err = Lines(proc.stdout), Lines(proc.stderr)
            try:
                # the player connects as soon as tonehost's input port appears, i.e. when its stream starts
                with LoopPlayer(audio, "tonehost:in_0", name="soak_player", env=server.env, timeout=180):
                    if after:
                        ref_in = stack.enter_context(jack.InputReferenceClient())
                    jack.connect("soak_player:out", ref_in.input)  # the C reference behind the same player
                    xlog = jack.XrunLog(str(log)).start()
                    t0 = time.monotonic()
                    samples = []
                    while proc.poll() is None and time.monotonic() - t0 < seconds:
                        time.sleep(max(0.0, t0 + (len(samples) + 1) * every - time.monotonic()))
                        counts = xlog.stop()
                        meters = [float(m.group(1)) for _, l in list(err.lines) for m in [OUT_DB.search(l)] if m]
                        samples.append({"t": time.monotonic() - t0, "rss_mb": rss_mb(proc.pid),
                                        "xruns_tonehost": counts.get("tonehost", 0),
                                        "xruns_reference": counts.get(ref.name, 0),
                                        "late_tonehost": xlog.running.get("tonehost", 0),
                                        "late_reference": xlog.running.get(ref.name, 0),
                                        "xruns_reference_in": counts.get(ref_in.name, 0),
                                        "late_reference_in": xlog.running.get(ref_in.name, 0),
                                        "late_player": xlog.running.get("soak_player", 0),
                                        "xruns_total": counts.get("_total", 0),
                                        "load1": os.getloadavg()[0],  # the machine's load (shared machines)
                                        "notes": out.count(ON_LINE),
                                        "out_db": meters[-1] if meters else None,
                                        **thread_stats(proc.pid),
                                        **{f"latent_{k}": v for k, v in thread_stats(ref_in.proc.pid).items()}})
                    proc.send_signal(signal.SIGINT)
                    proc.wait(timeout=30)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    text = err.text()
    summary = [l for l in text.splitlines()
               if l.startswith(("played ", "tonehost: error")) or re.match(r"\d+ notes( -> | \()", l)]
    return {"mode": mode, "seconds": seconds, "every": every, "returncode": proc.returncode, "samples": samples,
            "summary": summary, "stderr_tail": text[-2000:],
            "late_after_upstream": late_after_upstream(str(log), xlog.offset) if xlog is not None else {},
            "reference_registered": "after tonehost" if after else "before tonehost"}


def analyse(run: dict) -> dict:
    """Targets of one run: memory slope/growth, xruns against the reference, notes per interval."""
    s = run["samples"]
    t = np.array([x["t"] for x in s])
    rss = np.array([x["rss_mb"] for x in s], float)
    duration = float(t[-1]) if len(t) else 0.0
    warmup = max(60.0, 0.1 * duration) if duration >= 600 else duration / 3
    slope, growth = slope_mb_per_10min(t, rss, warmup)
    last = s[-1] if s else {"xruns_tonehost": 0, "xruns_reference": 0, "notes": 0}
    res = {"duration_s": duration, "warmup_s": warmup, "rss_start_mb": float(rss[0]) if len(rss) else None,
           "rss_end_mb": float(rss[np.isfinite(rss)][-1]) if np.isfinite(rss).any() else None,
           "rss_slope_mb_per_10min": slope,
           "rss_growth_after_warmup_mb": growth, "xruns_tonehost": last["xruns_tonehost"],
           "xruns_reference": last["xruns_reference"], "late_tonehost": last.get("late_tonehost", 0),
           "late_reference": last.get("late_reference", 0), "late_player": last.get("late_player", 0),
           "xruns_reference_in": last.get("xruns_reference_in"), "late_reference_in": last.get("late_reference_in"),
           "returncode": run["returncode"]}
    if duration >= 300:
        res["memory_ok"] = bool(slope <= 1.0)
    else:
        res["memory_ok"] = bool(growth <= 2.0)
    # judged on the cycles a client itself made late ("Running" in jackd's log); a client downstream of a late one
    # (tonehost after the looping player) is also named, as "Triggered", in every cycle the player made late. The
    # judge is the C client at tonehost's place (behind the same player: a player that ends a cycle late starts
    # both late); jack_simple_client starts every cycle at once (runs before this bench had `latent`: judged on it)
    # the audio thread's page faults and run-queue wait after warm-up, the other threads' fault rate (thread_stats)
    ts = [x for x in s if "rt_minflt" in x]
    after = [x for x in ts if x["t"] >= warmup]
    if len(after) >= 2:
        a, b = after[0], after[-1]
        span = max(1e-9, b["t"] - a["t"])
        res["rt_minflt_after_warmup"] = b["rt_minflt"] - a["rt_minflt"]
        res["rt_majflt_after_warmup"] = b["rt_majflt"] - a["rt_majflt"]
        res["rt_wait_ms_per_min"] = (b["rt_wait_ms"] - a["rt_wait_ms"]) * 60.0 / span
        res["rt_nvcsw_after_warmup"] = b["rt_nvcsw"] - a["rt_nvcsw"]
        cycles = span * 48000 / 128  # the bench's server: 48 kHz, 128-frame periods
        res["rt_cpu_us_per_cycle"] = (b.get("rt_cpu_ms", 0) - a.get("rt_cpu_ms", 0)) * 1e3 / cycles
        res["other_minflt_per_s"] = (b["other_minflt"] - a["other_minflt"]) / span
        if "latent_rt_wait_ms" in a and "latent_rt_wait_ms" in b:  # the C client behind the same player
            res["latent_rt_minflt_after_warmup"] = b["latent_rt_minflt"] - a["latent_rt_minflt"]
            res["latent_rt_wait_ms_per_min"] = (b["latent_rt_wait_ms"] - a["latent_rt_wait_ms"]) * 60.0 / span
            res["latent_rt_nvcsw_after_warmup"] = b["latent_rt_nvcsw"] - a["latent_rt_nvcsw"]
            res["latent_rt_cpu_us_per_cycle"] = (b.get("latent_rt_cpu_ms", 0) - a.get("latent_rt_cpu_ms", 0)) * 1e3 / cycles
    loads = [x["load1"] for x in s if x.get("load1") is not None]
    res["load1_median"] = float(np.median(loads)) if loads else None  # the xruns mean little without it
    judge = res["late_reference_in"] if res["late_reference_in"] is not None else res["late_reference"]
    res["xruns_ok"] = bool(res["late_tonehost"] <= judge + 3)
    if run["mode"] == "transcribe":
        notes = np.array([x["notes"] for x in s])
        bin_s = 60.0 if duration >= 180 else run["every"] * max(1, int(round(10.0 / run["every"])))
        edges = np.arange(0.0, duration + 1e-9, bin_s)
        at = np.interp(edges, t, notes, left=0.0)
        per_bin = np.diff(at)[1:]  # the first interval holds the start-up
        per_min = per_bin * 60.0 / bin_s
        res["notes"] = int(notes[-1]) if len(notes) else 0
        res["notes_per_minute"] = [float(x) for x in per_min]
        res["notes_per_minute_mean"] = float(per_min.mean()) if len(per_min) else 0.0
        res["notes_per_minute_cv"] = float(per_min.std() / per_min.mean()) if len(per_min) and per_min.mean() else None
        res["notes_ok"] = bool(len(per_bin) > 0 and per_bin.min() > 0)
    else:
        res["notes_ok"] = True
        dbs = [x["out_db"] for x in s if x["out_db"] is not None]
        res["out_db_median"] = float(np.median(dbs)) if dbs else None
    res["ok"] = bool(res["memory_ok"] and res["xruns_ok"] and res["notes_ok"] and run["returncode"] == 0)
    return res


def plot(runs: list[dict], path: Path) -> None:
    """RSS and cumulative xruns over time per mode, and notes per minute."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(9, 9), sharex=True)
    for run in runs:
        t = np.array([x["t"] for x in run["samples"]]) / 60.0
        axes[0].plot(t, [x["rss_mb"] for x in run["samples"]], label=f"{run['mode']} RSS")
        axes[1].plot(t, [x.get("late_tonehost", 0) for x in run["samples"]], label=f"{run['mode']}: tonehost")
        axes[1].plot(t, [x.get("late_reference", 0) for x in run["samples"]], ":",
                     label=f"{run['mode']}: jack_simple_client")
        axes[1].plot(t, [x.get("late_reference_in", 0) for x in run["samples"]], "--",
                     label=f"{run['mode']}: jack_latent_client (behind the player)")
        if run["mode"] == "transcribe":
            n = np.array([x["notes"] for x in run["samples"]], float)
            dt = np.diff(t, prepend=0.0)
            axes[2].plot(t[1:], (np.diff(n) / np.maximum(dt[1:], 1e-9)), label="notes per minute")
    axes[0].set_ylabel("RSS (MB)")
    axes[1].set_ylabel("cycles made late\n(cumulative)")
    axes[2].set_ylabel("notes / minute")
    axes[2].set_xlabel("minutes")
    for ax in axes:
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best", fontsize=8)
    fig.suptitle("tonehost soak: play and transcribe --live on looped input (JACK dummy, 48 kHz / 128)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="examples:\n  python -m bench.soak\n  python -m bench.soak --seconds 30 "
                                 "--every 2 --check\n  python -m bench.soak --minutes 5 --modes transcribe")
    ap.add_argument("--minutes", type=float, default=30.0, help="length of each mode's run (default 30)")
    ap.add_argument("--seconds", type=float, help="length in seconds instead (the tests: 30)")
    ap.add_argument("--every", type=float, default=10.0, help="sampling interval in seconds (default 10)")
    ap.add_argument("--modes", default="play,transcribe", help="play, transcribe or both (default)")
    ap.add_argument("--json", default="soak", help="result name or path (default bench/results/soak.json)")
    ap.add_argument("--png", default=str(RESULTS / "soak.png"), help="the plot (default bench/results/soak.png)")
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    ap.add_argument("--reference-last", action="store_true",
                    help="start jack_latent_client after tonehost (signalled after it in every cycle)")
    args = ap.parse_args(argv)
    seconds = args.seconds if args.seconds else args.minutes * 60.0
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not {"play", "transcribe"} >= set(modes) or not modes:
        ap.error("--modes takes play, transcribe or both")
    if not VOICE.is_file() or not PIANO.is_file():
        print(f"shared data not found under {SHARED_DATA}")
        return 2
    work = tmpdir()
    runs, results = [], {}
    for mode in modes:
        print(f"{mode}: {seconds:g} s on a private JACK server, sampled every {args.every:g} s ...", flush=True)
        run = run_mode(mode, seconds, args.every, work, reference_last=args.reference_last)
        res = analyse(run)
        runs.append(run)
        results[mode] = res
        print(f"  RSS {res['rss_start_mb']:.1f} -> {res['rss_end_mb']:.1f} MB; after {res['warmup_s']:.0f} s of "
              f"warm-up: slope {res['rss_slope_mb_per_10min']:+.2f} MB per 10 min, growth "
              f"{res['rss_growth_after_warmup_mb']:+.2f} MB  [{'ok' if res['memory_ok'] else 'MISSED'}]")
        print(f"  xruns in the same window, cycles the client itself made late: tonehost {res['late_tonehost']}, "
              f"jack_latent_client behind the same player {res['late_reference_in']}  "
              f"[{'ok' if res['xruns_ok'] else 'MISSED'}]; jack_simple_client (no input) {res['late_reference']}, "
              f"the looping player {res['late_player']}; named in any late cycle: tonehost {res['xruns_tonehost']}, "
              f"jack_latent_client {res['xruns_reference_in']}, jack_simple_client {res['xruns_reference']}")
        if "rt_minflt_after_warmup" in res:
            print(f"  after warm-up: the audio thread's page faults {res['rt_minflt_after_warmup']} minor, "
                  f"{res['rt_majflt_after_warmup']} major, run-queue wait {res['rt_wait_ms_per_min']:.1f} ms a "
                  f"minute, {res['rt_nvcsw_after_warmup']} preemptions, CPU {res['rt_cpu_us_per_cycle']:.1f} us a "
                  "cycle; other threads "
                  f"{res['other_minflt_per_s']:.0f} minor faults a second")
        if "latent_rt_wait_ms_per_min" in res:
            print(f"  jack_latent_client's real-time thread: {res['latent_rt_minflt_after_warmup']} minor faults, "
                  f"run-queue wait {res['latent_rt_wait_ms_per_min']:.1f} ms a minute, "
                  f"{res['latent_rt_nvcsw_after_warmup']} preemptions, CPU {res['latent_rt_cpu_us_per_cycle']:.1f} "
                  "us a cycle")
        after = run.get("late_after_upstream") or {}
        if after:
            th, lt = after.get("tonehost", [0, 0]), after.get("latent", [0, 0])
            print(f"  of those, right after a cycle the looping player made late: tonehost {th[1]} of {th[0]}, "
                  f"jack_latent_client {lt[1]} of {lt[0]} (registered {run['reference_registered']})")
        if res["load1_median"] is not None:
            print(f"  machine load (1-min average) median {res['load1_median']:.1f} on {os.cpu_count()} CPUs")
        if mode == "transcribe":
            cv = res["notes_per_minute_cv"]
            print(f"  notes {res['notes']}, per minute {res['notes_per_minute_mean']:.0f} (spread "
                  f"{'n/a' if cv is None else f'{100 * cv:.0f}%'} over {len(res['notes_per_minute'])} intervals)  "
                  f"[{'ok' if res['notes_ok'] else 'MISSED'}]")
        else:
            print(f"  output level median {res['out_db_median']} dB")
        for line in run["summary"]:
            print(f"  tonehost: {line}")
    plot(runs, Path(args.png))
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                                cwd=ROOT).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    out = save_json(args.json, {"commit": commit, "cpus": os.cpu_count(), "results": results, "runs": runs})
    print(f"wrote {out} and {args.png}")
    ok = all(r["ok"] for r in results.values())
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
