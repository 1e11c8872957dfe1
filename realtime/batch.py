"""Transcription at corpus scale: many files, a mirrored output tree, a manifest, resume, local processes or Dask.

``tonehost transcribe PATH... --out-dir DIR`` runs :func:`run_batch`:

- :func:`collect_inputs` expands files, folders (recursively, audio extensions only) and globs into jobs whose
  outputs mirror the input tree under ``DIR`` (``corpus/a/b.flac`` -> ``DIR/a/b.mid``, and ``b.tsv`` with
  ``notes_tsv``);
- ``DIR/manifest.jsonl`` gets one JSON line per finished file (``input, output, duration, notes, seconds, model,
  status, error``), written only by the driver process and only once a file's outputs are in place; a rerun skips
  every input with a ``done`` line whose output exists (resume after a crash, Ctrl-C or a lost worker);
- every output is written atomically (:func:`tonehost.exports.paths.atomic_output`); temporaries left
  by a killed worker are removed at the end of the run, so nothing half-written remains;
- a file that fails (unreadable, truncated, ...) is recorded with its error and the run goes on; the summary
  counts done, skipped and failed files, and :func:`run_batch` reports failures for a non-zero exit;
- work runs in ``jobs`` local processes (:class:`concurrent.futures.ProcessPoolExecutor`, default one per core;
  ``jobs=1`` runs in this process), or on a Dask distributed cluster (``scheduler="tcp://host:8786"``): the same
  job function, submitted per file; Dask re-runs the files of a worker that dies on the others, and the driver
  records each file once.

Each process loads its model once (:func:`load_backend`, cached per process) and runs it with one ONNX Runtime
thread: the parallelism is across files.
"""
from __future__ import annotations

import contextlib
import glob
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from tonehost.exports.errors import TonehostError, UsageError

__all__ = ["AUDIO_EXTENSIONS", "MANIFEST", "ModelSpec", "Job", "BatchResult", "collect_inputs", "plan_jobs",
           "load_backend", "check_backend", "transcribe_job", "read_manifest", "run_batch", "write_outputs"]

#: File name endings taken from folders and globs (a file named directly is always tried).
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc", ".w64", ".caf")
#: The manifest's name inside the output folder.
MANIFEST = "manifest.jsonl"


@dataclass(frozen=True)
class ModelSpec:
    """Which transcriber a batch runs (picklable, sent to every worker).

    Parameters
    ----------
    backend : str
        ``"onsets_frames"`` (the streaming model; the default) or ``"transkun"`` (Transkun V2, optional extra).
    checkpoint : str, optional
        For ``onsets_frames``: a checkpoint id, URL, directory or stream-form ``.onnx`` (default: the shipped
        ``onsets_frames_small``).
    threads : int
        Threads per process (ONNX Runtime intra-op, torch for Transkun).
    offline : bool
        Never download.
    """

    backend: str = "onsets_frames"
    checkpoint: str | None = None
    threads: int = 1
    offline: bool = False

    @property
    def name(self) -> str:
        """What the manifest's ``model`` field says."""
        if self.backend == "transkun":
            return "transkun-v2"
        if self.checkpoint is None:
            return "onsets_frames_small"
        return Path(str(self.checkpoint)).name if os.sep in str(self.checkpoint) else str(self.checkpoint)


@dataclass(frozen=True)
class Job:
    """One input file and where its outputs go."""

    input: str
    output: str
    notes_tsv: str | None = None


@dataclass
class BatchResult:
    """What :func:`run_batch` did.

    Attributes
    ----------
    done, skipped, failed : list of dict
        Manifest records written in this run (``done``, ``failed``) and the jobs skipped as already done.
    audio_seconds : float
        Audio transcribed in this run.
    wall_seconds : float
        Wall-clock time of the run.
    """

    done: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0

    def summary(self) -> str:
        """One line: counts, audio hours and the rate in audio hours per wall hour."""
        rate = self.audio_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0
        return (f"{len(self.done)} transcribed, {len(self.skipped)} skipped (already done), {len(self.failed)} "
                f"failed; {self.audio_seconds / 3600:.3f} h of audio in {self.wall_seconds:.1f} s "
                f"({rate:.0f} audio h per wall h)")


# ------------------------------------------------------------------------------------------------ inputs

def _is_audio(p: Path) -> bool:
    return p.suffix.lower() in AUDIO_EXTENSIONS and not p.name.startswith(".")


def _walk(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and _is_audio(p))


def collect_inputs(paths: Iterable[str | os.PathLike]) -> list[tuple[Path, Path]]:
    """Expand files, folders (recursive) and globs into ``(file, relative path)`` pairs.

    The relative path is what the output tree mirrors: a file's own name; a file found in a folder, its path
    below that folder; a glob match, its path below the glob's fixed leading folders (``corpus/**/*.wav`` ->
    below ``corpus``).

    Parameters
    ----------
    paths : iterable of str or os.PathLike

    Returns
    -------
    list of (pathlib.Path, pathlib.Path)
        In argument order, then sorted within a folder; a file reached twice is listed once.

    Raises
    ------
    UsageError
        A path that is neither a file, a folder nor a glob matching anything; or two inputs that would write the
        same output.
    """
    out: list[tuple[Path, Path]] = []
    seen: set[Path] = set()

    def add(f: Path, rel: Path) -> None:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            out.append((f, rel))

    for arg in map(str, paths):
        p = Path(arg).expanduser()
        if glob.has_magic(arg):
            parts = Path(arg).expanduser().parts
            fixed = [q for q in parts[:next(i for i, q in enumerate(parts) if glob.has_magic(q))]]
            base = Path(*fixed) if fixed else Path(".")
            matches = sorted(glob.glob(str(p), recursive=True))
            if not matches:
                raise UsageError(f"no file matches {arg!r}; check the pattern (quote it so the shell leaves ** "
                                 "to tonehost)")
            for m in map(Path, matches):
                if m.is_dir():
                    for f in _walk(m):
                        add(f, f.relative_to(base))
                elif m.is_file() and _is_audio(m):
                    add(m, m.relative_to(base))
        elif p.is_dir():
            for f in _walk(p):
                add(f, f.relative_to(p))
        elif p.is_file():
            add(p, Path(p.name))
        else:
            raise UsageError(f"{arg}: no such file or folder; give audio files, folders or globs")
    return out


def plan_jobs(inputs: list[tuple[Path, Path]], out_dir: str | os.PathLike, notes_tsv: bool = False) -> list[Job]:
    """Jobs whose outputs mirror the inputs' relative paths under ``out_dir`` (``.mid``, ``.tsv``).

    Raises
    ------
    UsageError
        Two inputs map to the same output (``a.wav`` and ``a.flac`` in one folder, or same-named files from two
        arguments).
    """
    out_dir = Path(out_dir).expanduser().resolve()  # absolute: workers on other hosts or folders get it as is
    jobs, owner = [], {}
    for f, rel in inputs:
        mid = out_dir / rel.with_suffix(".mid")
        if mid in owner:
            raise UsageError(f"{owner[mid]} and {f} would both write {mid}; transcribe them in separate runs "
                             "or rename one")
        owner[mid] = f
        jobs.append(Job(str(f.resolve()), str(mid), str(mid.with_suffix(".tsv")) if notes_tsv else None))
    return jobs


# ------------------------------------------------------------------------------------------------ one file

_BACKENDS: dict = {}


def load_backend(spec: ModelSpec):
    """The transcriber for ``spec``, loaded once per process.

    Returns
    -------
    object
        With ``transcribe_file(path, progress=None) -> NoteSequence``
        (:class:`~tonehost.realtime.pipelines.transcriber.OnsetsAndFrames`, or for Transkun
        :class:`~tonehost.realtime.pipelines.transkun_onnx.TranskunOnnx` when its export is cached, else
        :class:`~tonehost.realtime.pipelines.transkun.Transkun`).

    Raises
    ------
    TonehostError
        The model cannot be found, fetched or loaded (Transkun: the extra is not installed).
    """
    model = _BACKENDS.get(spec)
    if model is None:
        if spec.backend == "transkun":
            from tonehost.realtime.pipelines.transkun import load

            model = load(threads=spec.threads)  # its ONNX export when made (no torch), else torch
        elif spec.backend == "onsets_frames":
            from tonehost.realtime.pipelines.transcriber import OnsetsAndFrames

            model = OnsetsAndFrames(spec.checkpoint, threads=spec.threads, offline=spec.offline)
        else:
            raise UsageError(f"unknown transcription backend {spec.backend!r}; use onsets_frames or transkun")
        _BACKENDS[spec] = model
    return model


def check_backend(spec: ModelSpec) -> None:
    """Fail early, in the driver, when ``spec``'s model cannot be had (without loading it here): the O&F export
    is made (once, cached) so the workers find it; Transkun's extra must import.

    Raises
    ------
    TonehostError
    """
    if spec.backend == "transkun":
        from tonehost.realtime.pipelines.transkun import check_available

        check_available()
    elif spec.backend == "onsets_frames":
        from tonehost.exports.resolve import transcriber_model

        transcriber_model(spec.checkpoint, spec.offline)
    else:
        raise UsageError(f"unknown transcription backend {spec.backend!r}; use onsets_frames or transkun")


def write_outputs(notes, midi_path: str | os.PathLike | None, tsv_path: str | os.PathLike | None) -> None:
    """Write notes as MIDI and/or TSV, each atomically, creating missing folders (``"-"``: TSV to stdout).

    Parameters
    ----------
    notes : iterable of Note
    midi_path, tsv_path : path, optional
    """
    from tonehost.realtime.midi.output import write_midi_atomic, write_notes_tsv

    notes = sorted(notes, key=lambda n: (n.start_time, n.pitch))
    if midi_path:
        Path(midi_path).parent.mkdir(parents=True, exist_ok=True)
        write_midi_atomic(midi_path, notes)
    if tsv_path:
        if str(tsv_path) != "-":
            Path(tsv_path).parent.mkdir(parents=True, exist_ok=True)
        write_notes_tsv(tsv_path, notes)  # through write_atomic, as the MIDI file (a full disk: one UsageError)


def transcribe_job(job: Job, spec: ModelSpec, progress: Callable[[float], object] | None = None) -> dict:
    """Transcribe one file and write its outputs; never raises for a bad file (the record says what failed).

    Returns
    -------
    dict
        The manifest record: ``input, output, duration, notes, seconds, model, status ("done" | "failed"),
        error`` (``None`` when done), plus ``host`` and ``pid`` of the process that ran it.
    """
    import socket

    t0 = time.perf_counter()
    rec = {"input": job.input, "output": job.output, "duration": None, "notes": None, "seconds": None,
           "model": spec.name, "status": "failed", "error": None, "host": socket.gethostname(), "pid": os.getpid()}
    try:
        seq = load_backend(spec).transcribe_file(job.input, progress)
        write_outputs(seq.notes, job.output, job.notes_tsv)
        rec.update(duration=round(float(seq.total_time), 3), notes=len(seq.notes), status="done")
    except TonehostError as exc:
        rec["error"] = exc.user_message
    except Exception as exc:  # a bug on one file must not sink a corpus run: recorded, reported, run goes on
        rec["error"] = f"{type(exc).__name__}: {exc}"
    rec["seconds"] = round(time.perf_counter() - t0, 3)
    return rec


# ------------------------------------------------------------------------------------------------ manifest

def read_manifest(out_dir: str | os.PathLike) -> list[dict]:
    """The records of ``out_dir/manifest.jsonl`` (a torn last line from a crash is ignored)."""
    path = Path(out_dir) / MANIFEST
    if not path.is_file():
        return []
    recs = []
    for line in path.read_text().splitlines():
        try:
            recs.append(json.loads(line))
        except ValueError:
            continue
    return recs


class _Manifest:
    def __init__(self, out_dir: Path):
        out_dir.mkdir(parents=True, exist_ok=True)
        self.path = out_dir / MANIFEST
        self._f = open(self.path, "a")

    def append(self, rec: dict) -> None:
        try:
            self._f.write(json.dumps(rec) + "\n")
            self._f.flush()
            os.fsync(self._f.fileno())
        except OSError as exc:  # a full disk was a chained OSError traceback (append, then close)
            self._failed(exc)

    def close(self) -> None:
        try:
            self._f.close()
        except OSError as exc:
            self._failed(exc)

    def _failed(self, exc: OSError) -> None:
        from tonehost.exports.paths import write_failure

        with contextlib.suppress(OSError):
            self._f.close()
        reason = (write_failure(exc, self.path.parent) or (exc.strerror or str(exc),))[0]
        raise UsageError(f"cannot write {self.path}: {reason}; free some space or pick another --out-dir (a "
                         "rerun skips the files already done)", self.path) from None


def _remove_temporaries(jobs: list[Job]) -> None:
    """Delete the temporary files a killed worker left beside the outputs (:func:`atomic_leftovers`)."""
    from tonehost.exports.paths import atomic_leftovers

    for j in jobs:
        for o in (j.output, j.notes_tsv):
            if o and o != "-":
                for tmp in atomic_leftovers(o):
                    tmp.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------------ the run

def _durations(jobs: list[Job]) -> dict[str, float]:
    import soundfile as sf

    out = {}
    for j in jobs:
        try:
            out[j.input] = float(sf.info(j.input).duration)
        except Exception:  # reported by the job itself
            out[j.input] = 0.0
    return out


def _init_process(threads: int) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))


def run_batch(paths: Iterable[str | os.PathLike], out_dir: str | os.PathLike, spec: ModelSpec = ModelSpec(),
              jobs: int | None = None, scheduler: str | None = None, notes_tsv: bool = False,
              force: bool = False, progress: bool | None = None, log: Callable[[str], None] | None = None
              ) -> BatchResult:
    """Transcribe many files into a mirrored tree under ``out_dir`` with a manifest; resumable.

    Parameters
    ----------
    paths : iterable of str or os.PathLike
        Files, folders (recursive) and globs (:func:`collect_inputs`).
    out_dir : str or os.PathLike
        Output root (created); holds ``manifest.jsonl``.
    spec : ModelSpec
        The model.
    jobs : int, optional
        Local worker processes (default: the cores this process may use); 1 runs in this process.
    scheduler : str, optional
        Address of a Dask distributed scheduler (``tcp://host:8786``); the workers there run the jobs (they
        need tonehost installed and the input and output paths reachable).
    notes_tsv : bool
        Also write a notes TSV beside each MIDI file.
    force : bool
        Transcribe every input again, even those the manifest says are done.
    progress : bool, optional
        Draw a progress bar over files and audio hours (default: when standard error is a terminal).
    log : callable, optional
        Receives one line per failed file as it fails (default: print to standard error).

    Returns
    -------
    BatchResult

    Raises
    ------
    UsageError
        No inputs, a path that matches nothing, colliding outputs, a bad ``jobs`` value, an output that exists
        and that no manifest line accounts for (unless ``force``).
    TonehostError
        The model cannot be loaded (before any file is tried), or the scheduler cannot be reached.
    """
    t_start = time.perf_counter()
    out_dir = Path(out_dir)
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    all_jobs = plan_jobs(collect_inputs(paths), out_dir, notes_tsv)
    if not all_jobs:
        raise UsageError("no audio files found in the given paths (looked for "
                         f"{', '.join(AUDIO_EXTENSIONS)})")
    if jobs is not None and jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {jobs}")
    result = BatchResult()
    records = read_manifest(out_dir)
    done_before = set() if force else {r["input"] for r in records
                                       if r.get("status") == "done" and Path(r.get("output", "")).is_file()}
    todo = []
    for j in all_jobs:
        if j.input in done_before:
            result.skipped.append(asdict(j))
        else:
            todo.append(j)
    if not force:  # never replace a file tonehost did not write (`--out-dir` = the input folder, beside x.mid)
        ours = {r.get("input") for r in records}
        foreign = [o for j in todo if j.input not in ours for o in (j.output, j.notes_tsv) if o and Path(o).exists()]
        if foreign:
            more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
            raise UsageError(f"{foreign[0]}{more} already exists and is not in {out_dir / MANIFEST}: tonehost did "
                             "not write it (your own MIDI beside the audio?); give another --out-dir, or --force to "
                             "replace it", foreign[0])
    inline = not scheduler and ((jobs or _cores()) == 1 or len(todo) <= 1)
    if inline:
        load_backend(spec)  # a model that cannot load fails the run once, here, not once per file
    else:
        check_backend(spec)
    manifest = _Manifest(out_dir)
    durations = _durations(todo)
    show = sys.stderr.isatty() if progress is None else progress
    from tqdm import tqdm

    bar = tqdm(total=round(sum(durations.values()) / 3600, 4), unit="audio h", disable=not show,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.3f}/{total:.3f} audio h [{elapsed}<{remaining}]")
    n_files = len(todo)

    def finished(rec: dict, counted_s: float = 0.0) -> None:
        manifest.append(rec)
        if rec["status"] == "done":
            result.done.append(rec)
            result.audio_seconds += rec["duration"] or 0.0
        else:
            result.failed.append(rec)
            line = f"tonehost: failed: {rec['error'] if rec['input'] in rec['error'] else rec['input'] + ': ' + rec['error']}"
            if show:
                bar.write(line, file=sys.stderr)
            else:
                log(line)
        rest = durations.get(rec["input"], 0.0) - counted_s
        bar.update(round(rest / 3600, 6))
        bar.set_description(f"files {len(result.done) + len(result.failed)}/{n_files}")

    bar.set_description(f"files 0/{n_files}")
    try:
        if scheduler:
            _run_dask(todo, spec, scheduler, finished)
        elif inline:
            for j in todo:
                counted = [0.0]

                def step(seconds: float, counted=counted) -> None:
                    counted[0] += seconds
                    bar.update(round(seconds / 3600, 6))

                finished(transcribe_job(j, spec, step), counted[0])
        else:
            _run_processes(todo, spec, min(jobs or _cores(), len(todo)), finished)
    finally:
        bar.close()
        manifest.close()
        _remove_temporaries(all_jobs)
        result.wall_seconds = time.perf_counter() - t_start
    return result


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _run_processes(todo: list[Job], spec: ModelSpec, jobs: int, finished: Callable[[dict], None]) -> None:
    """Local worker processes (spawned: no inherited threads or sessions); a crashed pool is restarted for the
    files it had not finished (twice at most, then they are recorded as failed)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    pending = list(todo)
    for attempt in range(3):
        if not pending:
            return
        with ProcessPoolExecutor(max_workers=min(jobs, len(pending)), mp_context=mp.get_context("spawn"), initializer=_init_process,
                                 initargs=(spec.threads,)) as pool:
            futures = {pool.submit(transcribe_job, j, spec): j for j in pending}
            broken = []
            for fut in as_completed(futures):
                try:
                    rec = fut.result()
                except BrokenProcessPool:
                    broken.append(futures[fut])
                    continue
                finished(rec)
            pending = broken
    for j in pending:
        finished({"input": j.input, "output": j.output, "duration": None, "notes": None, "seconds": None,
                  "model": spec.name, "status": "failed", "error": "the worker process died on this file three "
                  "times (out of memory?); try it alone with --jobs 1", "host": None, "pid": None})


def _run_dask(todo: list[Job], spec: ModelSpec, scheduler: str, finished: Callable[[dict], None]) -> None:
    """Submit one task per file to a Dask distributed scheduler; record each result as it comes back."""
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise UsageError("--scheduler needs Dask's distributed package: pip install 'tonehost[cluster]'") from None
    try:
        client = Client(scheduler, timeout=20)
    except ValueError as exc:  # ("missing port number in address 'foo'": a traceback from inside distributed)
        raise UsageError(f"--scheduler {scheduler!r} is not a Dask scheduler address ({exc}); give one such as "
                         "tcp://10.0.0.5:8786") from None
    except (OSError, TimeoutError) as exc:
        raise TonehostError(f"cannot reach the Dask scheduler at {scheduler} ({exc}); start one with "
                            "`dask scheduler` and workers with `dask worker ADDRESS`, or drop --scheduler") from None
    try:
        futures = [client.submit(transcribe_job, j, spec, key=f"tonehost-transcribe-{i}-{abs(hash(j.input))}",
                                 pure=False, retries=2) for i, j in enumerate(todo)]
        by_key = {f.key: j for f, j in zip(futures, todo)}
        for fut in as_completed(futures):
            j = by_key[fut.key]
            try:
                rec = fut.result()
            except Exception as exc:  # the task itself never raises; this is a worker lost too often (KilledWorker)
                rec = {"input": j.input, "output": j.output, "duration": None, "notes": None, "seconds": None,
                       "model": spec.name, "status": "failed", "error": f"{type(exc).__name__}: {exc}",
                       "host": None, "pid": None}
            finished(rec)
    finally:
        client.close()
