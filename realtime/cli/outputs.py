"""Output files of the offline commands (``render``, ``pitch``): never the input, never half written.

- :func:`refuse_same_file` stops a command before it opens anything when an output names its input (the same file
  through another spelling, a relative path, a symlink or a hard link: ``os.path.samefile``), or two outputs name
  one file: writing would destroy the input before it is read.
- :func:`atomic_output` gives the writer a temporary name beside the target (``.NAME.XXXX.part`` in the same
  folder, mode ``0666 & ~umask`` as ``open()`` gives) and moves it over the target with ``os.replace`` only when the
  writer finished: a failed, interrupted (Ctrl-C) or killed command leaves the old file (or none) under the final
  name, never a part (it lives in :mod:`tonehost.exports.paths`;
  :func:`~tonehost.realtime.midi.output.write_atomic` and ``NoteSequence.to_midi`` write through it too).
- :func:`audio_output` is the argparse type of ``render -o``: an :func:`~tonehost.realtime.cli.options.output_file`
  whose extension names a format libsndfile writes (:data:`AUDIO_FORMATS`).
- :func:`named_output` makes the argparse type of an output whose format its name must show (``-o OUT.mid`` of
  transcribe, continue, vae, groove: :data:`midi_output`; ``vae encode -o z.json|z.npy``; ``transcribe --notes
  OUT.tsv``; ``export -o MODEL.onnx``): ``transcribe take.wav -o out.wav`` is one line naming the file and the fix
  instead of MIDI bytes in a ``.wav``.
- :func:`seconds_bar` is a tqdm progress bar counting whole samples and showing seconds.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from tonehost.exports.errors import UsageError
from tonehost.realtime.cli.options import output_file, writes_file
from tonehost.exports.paths import atomic_output  # the one home of atomic writes (re-exported)

__all__ = ["refuse_same_file", "refuse_overwriting_inputs", "atomic_output", "audio_output", "audio_format",
           "AUDIO_FORMATS", "named_output", "midi_output", "tsv_output", "vectors_output", "onnx_output", "seconds_bar"]

#: File extensions ``render -o`` accepts -> libsndfile format (those this libsndfile lacks are left out at use).
AUDIO_FORMATS = {"wav": "WAV", "flac": "FLAC", "ogg": "OGG", "oga": "OGG", "mp3": "MP3", "aiff": "AIFF",
                 "aif": "AIFF", "caf": "CAF", "w64": "W64", "rf64": "RF64", "au": "AU"}


def _supported() -> dict:
    import soundfile as sf

    have = sf.available_formats()
    return {ext: fmt for ext, fmt in AUDIO_FORMATS.items() if fmt in have}


def audio_format(path) -> tuple[str, str]:
    """``(format, subtype)`` libsndfile writes ``path`` with: 32-bit float for WAV (no clipping, as before), the
    format's default subtype otherwise (``soundfile.default_subtype``).

    Raises
    ------
    argparse.ArgumentTypeError
        The extension names no format this libsndfile writes (the message lists those it does).
    """
    import soundfile as sf

    ext = Path(str(path)).suffix.lower().lstrip(".")
    fmts = _supported()
    if ext not in fmts:
        names = ", ".join(f".{e}" for e in fmts)
        what = f"'.{ext}'" if ext else "no extension"
        raise argparse.ArgumentTypeError(f"{path} has {what}: name the output file with one of {names} "
                                         "(the extension picks the format)")
    fmt = fmts[ext]
    return fmt, ("FLOAT" if fmt == "WAV" else sf.default_subtype(fmt))


def audio_output(text: str) -> Path:
    """argparse type of ``render -o``: a writable file (:func:`~tonehost.realtime.cli.options.output_file`) whose
    extension names an audio format (:func:`audio_format`); ``-`` (standard output) is refused: the file is
    written in place and moved at the end."""
    if str(text) == "-":
        raise argparse.ArgumentTypeError("cannot write audio to standard output ('-'); give a file name such as "
                                         "out.wav")
    audio_format(text)  # the format before any folder is made
    path = output_file(text)
    audio_format(path)
    return path


writes_file(audio_output)


def named_output(what: str, suffixes: tuple[str, ...], stdout: bool = False, offer: int = 1):
    """An argparse type for an output file whose name must end in one of ``suffixes`` (case-insensitive).

    The ending is checked first, before :func:`~tonehost.realtime.cli.options.output_file` makes any folder:
    ``transcribe take.wav -o out.wav`` (MIDI bytes in a ``.wav``) is one line naming the file and the name to
    give, exit 2, like ``render -o`` (:func:`audio_output`). So for ``transcribe take.wav -o take.wav`` this line
    comes before :func:`refuse_overwriting_inputs`'s; the input is untouched either way.

    Parameters
    ----------
    what : str
        What the command writes, for the message (``"MIDI"``, ``"latent vectors (JSON or .npy)"``).
    suffixes : tuple of str
        Accepted endings, lower case with the dot.
    stdout : bool
        Also accept ``-`` (standard output).
    offer : int
        How many of ``suffixes`` (the first ones) the message offers as the fix.

    Returns
    -------
    callable
        ``type(text) -> Path`` (or ``"-"``), marked :func:`~tonehost.realtime.cli.options.writes_file`, with the
        attributes ``what`` and ``suffixes``.
    """
    def parse(text: str):
        t = str(text)
        if stdout and t == "-":
            return "-"
        path = Path(t)
        if t.strip() and t != "-" and "\0" not in t and path.name not in ("", ".", "..") \
                and path.suffix.lower() not in suffixes:
            fix = " or ".join((path.with_suffix(x).name if path.suffix else path.name + x) for x in suffixes[:offer])
            raise argparse.ArgumentTypeError(f"{t}: this command writes {what}"
                                             + (f", not {path.suffix}" if path.suffix else "") + f"; name it {fix}")
        return output_file(text)

    parse.what, parse.suffixes = what, tuple(suffixes)
    parse.__name__ = parse.__qualname__ = f"{what.split()[0].lower()}_output"
    parse.__doc__ = f"argparse type: a file the command writes {what} into, named {' or '.join(suffixes)}."
    return writes_file(parse)


#: ``-o OUT.mid``: a MIDI file (``.mid`` or ``.midi``).
midi_output = named_output("MIDI", (".mid", ".midi"))
#: ``transcribe --notes OUT.tsv``: notes as tab-separated text (``.tsv`` or ``.txt``; ``-`` standard output).
tsv_output = named_output("notes as TSV", (".tsv", ".txt"), stdout=True)
#: ``vae encode -o z.json``: latent vectors as JSON or a NumPy ``.npy`` (``-``: JSON on standard output).
vectors_output = named_output("latent vectors (JSON or .npy)", (".json", ".npy"), stdout=True, offer=2)
#: ``export ... -o MODEL.onnx``: an ONNX model.
onnx_output = named_output("an ONNX model", (".onnx",))


def refuse_same_file(inputs, outputs) -> None:
    """Refuse outputs that would overwrite an input or each other, before anything is opened.

    Parameters
    ----------
    inputs : iterable of path-like
        Files the command reads (missing ones are compared by their resolved path).
    outputs : iterable of (str, path-like or None)
        ``(option, path)`` of every file the command writes; ``None`` and ``-`` (standard output) are skipped.

    Raises
    ------
    UsageError
        One line naming the option, the file and the fix.
    """
    def same(a, b) -> bool:
        try:
            if os.path.exists(a) and os.path.exists(b):
                return os.path.samefile(a, b)
        except OSError:
            pass
        return os.path.realpath(os.path.expanduser(str(a))) == os.path.realpath(os.path.expanduser(str(b)))

    seen: list = []
    outs = [(opt, p) for opt, p in outputs if p is not None and str(p) != "-"]
    for opt, p in outs:
        for src in inputs:
            if same(src, p):
                raise UsageError(f"{opt} {p} is the input file {src}: writing it would destroy that input; "
                                 "give another output name", Path(str(p)))
        for opt2, p2 in seen:
            if same(p, p2):
                raise UsageError(f"{opt} and {opt2} name the same file {p}; give them different names",
                                 Path(str(p)))
        seen.append((opt, p))


def _chosen_parsers(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list:
    """``parser`` and the sub-command parsers ``args`` went through (``tonehost vae sample``: 3 parsers)."""
    chain = [parser]
    while True:
        subs = [a for a in chain[-1]._actions if isinstance(a, argparse._SubParsersAction)]
        name = getattr(args, subs[0].dest, None) if subs else None
        if name not in (subs[0].choices if subs else {}):
            return chain
        chain.append(subs[0].choices[name])


def refuse_overwriting_inputs(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """:func:`refuse_same_file` for any command: outputs are the values of options whose type is marked
    :func:`~tonehost.realtime.cli.options.writes_file` (``-o``, ``--notes``, ``--recover``, ...), inputs every other
    value that names an existing file (positional files, ``--input-file``, ...).

    Called by :func:`tonehost.realtime.cli.main` once the command line is parsed, before the command runs, so no
    command (``transcribe take.wav -o take.wav`` used to overwrite the recording) can write over a file it reads.

    Raises
    ------
    UsageError
        An output names an input, or two outputs name one file (one line naming the option and the file).
    """
    inputs, outputs = [], []
    for p in _chosen_parsers(parser, args):
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction) or not hasattr(args, action.dest):
                continue
            value = getattr(args, action.dest)
            values = value if isinstance(value, (list, tuple)) else [value]
            if getattr(action.type, "writes_file", False):
                label = max(action.option_strings, key=len) if action.option_strings else action.dest
                outputs += [(label, v) for v in values if v is not None]
            else:
                inputs += [v for v in values if isinstance(v, (str, os.PathLike)) and str(v) not in ("", "-")
                           and os.path.isfile(v)]
    refuse_same_file(inputs, outputs)


def seconds_bar(desc: str, frames: int, sample_rate: int, **kw):
    """A tqdm bar over ``frames`` whole samples shown as seconds to 0.1 s (``12.3/92.6 s``).

    Update it with :func:`bar_add` (clamped: never past the total, so no overshoot warning or negative ETA).
    """
    from tqdm import tqdm

    return tqdm(total=max(0, int(frames)), unit="s", unit_scale=1.0 / max(1, int(sample_rate)), desc=desc,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} s [{elapsed}<{remaining}]",
                **{"disable": None, **kw})


def bar_add(bar, samples: int) -> None:
    """Advance ``bar`` by ``samples`` whole samples, clamped to its total."""
    step = min(int(samples), int(bar.total) - int(bar.n))
    if step > 0:
        bar.update(step)
