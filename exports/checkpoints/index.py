"""The index of hosted checkpoints: Magenta.js's 35 checkpoints, their mirrors and known files, and user entries.

Built-in entries come from Magenta.js's "Hosted Checkpoints" table (``id, model, sizeMb, description, url``);
ids also in the older table get its URLs as mirrors. Where the files are known (the DDSP graph models, the
float32 Onsets and Frames shards, the DDSP-VST pitch model) their sizes and SHA-256 are part of the entry; the
others are recorded in the cache's lock file on first verified download (see :mod:`tonehost.exports.checkpoints.download`).

Users extend or override the index with JSON files (``$TONEHOST_INDEX``, several separated by ``os.pathsep``, or
``extra_index`` arguments): a list of entries in the same format, optionally with ``mirrors`` (list of URLs),
``format`` (``layers`` | ``graph`` | ``files``) and ``files`` (``{name: {"size": int, "sha256": hex}}``).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from tonehost.exports.errors import CheckpointError, CheckpointFormatError, CheckpointNotFoundError, UsageError

MAGENTA = "https://storage.googleapis.com/magentadata/js/checkpoints"
OLD_MAGENTA = "https://storage.googleapis.com/download.magenta.tensorflow.org/tfjs_checkpoints"
INDEX_ENV = "TONEHOST_INDEX"

FORMATS = ("layers", "graph", "files")


@dataclass(frozen=True)
class FileSpec:
    """A file a checkpoint is known to have: name (relative path), size in bytes and SHA-256 when known."""

    name: str
    size: int | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class Checkpoint:
    """One entry of the index.

    Attributes
    ----------
    id, model, size_mb, description, url :
        The fields of Magenta.js's JSON index (``url`` is a directory).
    mirrors : tuple of str
        Other directories serving the same files, tried in order after ``url``.
    format : {"layers", "graph", "files"}
        ``layers``: weights_manifest.json + shards (+ config.json); ``graph``: model.json + shards + settings.json;
        ``files``: exactly the files listed in ``files``.
    files : tuple of FileSpec
        Files known in advance (size/SHA-256 verified on download); shards not listed here are taken from the
        manifest.
    origin : str
        ``builtin`` or the path of the user index file that defined it.
    """

    id: str
    model: str
    size_mb: float
    description: str
    url: str
    mirrors: tuple[str, ...] = ()
    format: str = "layers"
    files: tuple[FileSpec, ...] = ()
    origin: str = "builtin"
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def urls(self) -> list[str]:
        """``url`` then the mirrors."""
        return [self.url, *self.mirrors]

    def file(self, name: str) -> FileSpec | None:
        """The known spec of file ``name``, or None."""
        for f in self.files:
            if f.name == name:
                return f
        return None

    def to_json(self) -> dict:
        """The entry in Magenta.js's JSON index format (``id, model, sizeMb, description, url``)."""
        return {"id": self.id, "model": self.model, "sizeMb": self.size_mb, "description": self.description,
                "url": self.url}

    def to_full_json(self) -> dict:
        """Every field, including mirrors, format and known files (the user index format)."""
        d = self.to_json()
        d.update({"mirrors": list(self.mirrors), "format": self.format,
                  "files": {f.name: {"size": f.size, "sha256": f.sha256} for f in self.files}})
        return d


# id | model | description | size MB | url (relative to MAGENTA) -- Magenta.js's table, in its order.
_TABLE = [
    ("drums_2bar_lokl_small", "MusicVAE", "A 2-bar, 9-class onehot drum model with a strong prior (low KL divergence), which is better for sampling. Less accurate, but smaller in size than full model.", 18.5, "music_vae/drums_2bar_lokl_small"),
    ("drums_2bar_hikl_small", "MusicVAE", "A 2-bar, 9-class onehot drum model with a weak prior (higher KL divergence), which is better for reconstructions and interpolations. Less accurate, but smaller in size than full model.", 18.5, "music_vae/drums_2bar_hikl_small"),
    ("drums_2bar_nade_9_q2", "MusicVAE", "A 2-bar, 9-class multilabel drum model with a NADE decoder. Quantized to 2-byte weights.", 27.6, "music_vae/drums_2bar_nade_9_q2"),
    ("drums_4bar_med_q2", "MusicVAE", "A medium-sized 2-bar, 9-class onehot drum model with a weak prior (higher KL divergence), which is better for reconstructions and interpolations. Quantized to 2-byte weights.", 68.2, "music_vae/drums_4bar_med_q2"),
    ("drums_4bar_med_lokl_q2", "MusicVAE", "A medium-sized 2-bar, 9-class onehot drum model with a strong prior (lower KL divergence), which is better for sampling. Quantized to 2-byte weights.", 68.2, "music_vae/drums_4bar_med_lokl_q2"),
    ("mel_2bar_small", "MusicVAE", "A 2-bar, 90-class onehot melody model. Less accurate, but smaller in size than full model.", 17.7, "music_vae/mel_2bar_small"),
    ("mel_4bar_med_q2", "MusicVAE", "A medium-sized 4-bar, 90-class onehot melody model. Quantized to 2-byte weights.", 65.4, "music_vae/mel_4bar_med_q2"),
    ("mel_4bar_med_lokl_q2", "MusicVAE", "A medium-sized 4-bar, 90-class onehot melody model.  Trained with a strong prior (low KL divergence), which is better for sampling. Quantized to 2-byte weights.", 65.4, "music_vae/mel_4bar_med_lokl_q2"),
    ("mel_4bar_small_q2", "MusicVAE", "A 4-bar, 90-class onehot melody model. Less accurate, but smaller in size than full model. Quantized to 2-byte weights.", 26.5, "music_vae/mel_4bar_small_q2"),
    ("mel_chords", "MusicVAE", "A 2-bar, 90-class onehot melody model with chord conditioning. Quantized to 2-byte weights.", 17.6, "music_vae/mel_chords"),
    ("mel_16bar_small_q2", "MusicVAE", "A 16-bar, 90-class onehot melody model with a 16-step conductor level. Less accurate, but smaller in size than full model. Quantized to 2-byte weights.", 23.5, "music_vae/mel_16bar_small_q2"),
    ("trio_4bar_lokl_small_q1", "MusicVAE", "A 4-bar, 'trio' model for melody, bass, and drums, with a 4-step conductor level. Trained with a strong prior (low KL divergence), which is better for sampling. Less accurate, but smaller in size than full model. Quantized to 1-byte weights.", 17.6, "music_vae/trio_4bar"),
    ("trio_16bar_xl", "MusicVAE", "A 16-bar, 'trio' model for melody, bass, and drums, with a 4-step conductor level. This is a very large model that should be good for both accurate reconstruction and good sampling. Because of its size, we recommend only using this checkpoint locally (i.e. on a Node server), and not on the client size.", 1710, "music_vae/trio_16bar"),
    ("multitrack", "MusicVAE", "A 1-bar multitrack model, trained with 64 free bits. Quantized to 1-byte weights.", 26.4, "music_vae/multitrack"),
    ("multitrack_med", "MusicVAE", "A larger 1-bar multitrack model, trained with 64 free bits. Quantized to 1-byte weights.", 95.9, "music_vae/multitrack_med"),
    ("multitrack_med_fb256", "MusicVAE", "A larger 1-bar multitrack model, trained with 256 free bits. Quantized to 1-byte weights.", 95.9, "music_vae/multitrack_med_fb256"),
    ("multitrack_chords", "MusicVAE", "A 1-bar chord-conditioned multitrack model, trained with 64 free bits. Quantized to 1-byte weights.", 26.9, "music_vae/multitrack_chords"),
    ("multitrack_med_chords", "MusicVAE", "A larger 1-bar chord-conditioned multitrack model, trained with 64 free bits. Quantized to 1-byte weights.", 96.9, "music_vae/multitrack_med_chords"),
    ("multitrack_med_chords_fb256", "MusicVAE", "A larger 1-bar chord-conditioned multitrack model, trained with 256 free bits. Quantized to 1-byte weights.", 96.9, "music_vae/multitrack_med_chords_fb256"),
    ("groovae_2bar_humanize", "MusicVAE", "A 2-bar GrooVAE model that converts a quantized, constant-velocity drum pattern into a 'humanized' groove.", 15.8, "music_vae/groovae_2bar_humanize"),
    ("tap2drum_1bar", "MusicVAE", "A 1-bar GrooVAE model that converts a constant-velocity single-drum 'tap' pattern into a groove.", 15.6, "groovae/tap2drum_1bar"),
    ("tap2drum_2bar", "MusicVAE", "A 2-bar GrooVAE model that converts a constant-velocity single-drum 'tap' pattern into a groove.", 15.6, "groovae/tap2drum_2bar"),
    ("tap2drum_3bar", "MusicVAE", "A 3-bar GrooVAE model that converts a constant-velocity single-drum 'tap' pattern into a groove.", 15.6, "groovae/tap2drum_3bar"),
    ("tap2drum_4bar", "MusicVAE", "A 4-bar GrooVAE model that converts a constant-velocity single-drum 'tap' pattern into a groove.", 15.6, "groovae/tap2drum_4bar"),
    ("groovae_4bar", "MusicVAE", "A 4-bar GrooVAE autoencoder.", 15.8, "music_vae/groovae_4bar"),
    ("basic_rnn", "MusicRNN", "A 36-class onehot MelodyRNN model. Converted from http://download.magenta.tensorflow.org/models/basic_rnn.mag.", 13.0, "music_rnn/basic_rnn"),
    ("melody_rnn", "MusicRNN", "A 128-class onehot MelodyRNN model.", 13.4, "music_rnn/melody_rnn"),
    ("drum_kit_rnn", "MusicRNN", "A 9-class onehot DrumsRNN model. Converted from http://download.magenta.tensorflow.org/models/drum_kit_rnn.mag.", 11.9, "music_rnn/drum_kit_rnn"),
    ("chord_pitches_improv", "MusicRNN", "A 36-class onehot melody ImprovRNN model conditioned on chords as described at https://github.com/tensorflow/magenta/tree/master/magenta/models/improv_rnn#chord-pitches-improv. Converted from http://download.magenta.tensorflow.org/models/chord_pitches_improv.mag.", 5.6, "music_rnn/chord_pitches_improv"),
    ("onsets_frames_uni", "OnsetsAndFrames", "A unidirectional piano transcription model.", 60, "transcription/onsets_frames_uni"),
    ("onsets_frames_uni_q2", "OnsetsAndFrames", "A unidirectional piano transcription model. Quantized to 2-byte weights.", 30, "transcription/onsets_frames_uni_q2"),
    ("ddsp_flute", "DDSPFlute", "A flute model for use with DDSP.", 3.9, "ddsp/flute"),
    ("ddsp_tenor_saxophone", "DDSPTenorSaxophone", "A tenor saxophone model for use with DDSP.", 3.9, "ddsp/tenor_saxophone"),
    ("ddsp_trumpet", "DDSPTrumpet", "A trumpet model for use with DDSP.", 3.9, "ddsp/trumpet"),
    ("ddsp_violin", "DDSPViolin", "A violin model for use with DDSP.", 3.9, "ddsp/violin"),
]

# The older table (tfjs_checkpoints/...): mirrors for the ids in both tables.
_OLD_MIRRORS = {
    "drums_2bar_lokl_small": "music_vae/drums_lokl_small",
    "drums_2bar_hikl_small": "music_vae/drums_2bar_hikl_small",
    "mel_2bar_small": "music_vae/mel_2bar_small",
    "basic_rnn": "music_rnn/basic_rnn",
    "drum_kit_rnn": "music_rnn/drum_kit_rnn",
    "chord_pitches_improv": "music_rnn/chord_pitches_improv",
}

# Official DDSP graph-model files: name -> (bytes, sha256).
_DDSP_FILES = {
    "violin": {
        "model.json": (381158, "4c4cc99e186fb101442c38fd0ed869c7911feb81a03113c092f48a7f07f89888"),
        "group1-shard1of1.bin": (3888160, "e2df331d82cf56ed58c202c7af545b305f6794c655897dfc45535620a0d2fc12"),
        "settings.json": (171, "9cfae64cf6e36007192a479f6f74e26356ed0e6d4521d242498bcb4e04723269"),
    },
    "flute": {
        "model.json": (381158, "81a2187d58ca5d02e30b755aaa9abed171b0269a7cf2207f445a177af9add434"),
        "group1-shard1of1.bin": (3888160, "1ce83914040927c5713ad80131c9bfa7eed960b696ca8f17176392b7287ad745"),
        "settings.json": (171, "d4b754db5cd6fe4937de3bd205c4db1aa6d824b8a35571f62047b7a546628fc3"),
    },
    "trumpet": {
        "model.json": (381158, "20cf69198fc87decefce850fc5315562f2d72c01da89cd16581dc868f1daa5b5"),
        "group1-shard1of1.bin": (3888160, "4785eff16aef6d5e620f70866b865e3cb6462f0670edeeb9711603a354170538"),
        "settings.json": (173, "60e26d8fd06c963b2828c112f70d4e5667fc9cd328fe6a65977fe839d6393e93"),
    },
    "tenor_saxophone": {
        "model.json": (381158, "1b334b0639c2dd7f19e904a977339c7e4b53fe7fde4f56cc7c9797c99789787e"),
        "group1-shard1of1.bin": (3888160, "e4f9c5703a80cb874bca35818b22eb86d7f02ade3098974b47c6d248e6e57f0d"),
        "settings.json": (171, "4632398ffae90dc12dccf6bb9480102c6947f5c5eb5829415108f25d8cf0a7fe"),
    },
}

# Onsets and Frames (float32): 15 shards of 4 MiB, 62,540,992 bytes in all (15,635,248 float32 parameters).
_OAF_TOTAL = 62_540_992
_OAF_SHARDS = tuple(FileSpec(f"group1-shard{i}of15", min(4 * 2**20, _OAF_TOTAL - (i - 1) * 4 * 2**20))
                    for i in range(1, 16))

PITCH_MODEL_ID = "ddsp_vst_pitch"
_PITCH_FILE = FileSpec("extract_features_micro.tflite", 671569,
                       "98ade06772f9ca6ac64789fd843f14aeddf709084bbc76f060761b141837d0a2")
_PITCH = Checkpoint(
    id=PITCH_MODEL_ID, model="DDSPVSTPitch", size_mb=0.7,
    description="DDSP-VST's f0 + loudness feature model (extract_features_micro.tflite: a half-width CREPE, "
                "1024 samples at 16 kHz in, f0_hz, f0_scaled, pw_db, pw_scaled out). Apache-2.0.",
    url="https://raw.githubusercontent.com/magenta/ddsp-vst/main/models/pitch-detection",
    mirrors=("https://media.githubusercontent.com/media/magenta/ddsp-vst/main/models/pitch-detection",
             "https://github.com/magenta/ddsp-vst/raw/main/models/pitch-detection"),
    format="files", files=(_PITCH_FILE,))


def _builtin() -> dict[str, Checkpoint]:
    out: dict[str, Checkpoint] = {}
    for cid, model, desc, size, rel in _TABLE:
        mirrors = (f"{OLD_MAGENTA}/{_OLD_MIRRORS[cid]}",) if cid in _OLD_MIRRORS else ()
        files: tuple[FileSpec, ...] = ()
        fmt = "layers"
        if model.startswith("DDSP"):
            fmt = "graph"
            inst = rel.split("/", 1)[1]
            files = tuple(FileSpec(n, s, h) for n, (s, h) in _DDSP_FILES[inst].items())
        elif cid == "onsets_frames_uni":
            files = _OAF_SHARDS
        out[cid] = Checkpoint(cid, model, size, desc, f"{MAGENTA}/{rel}", mirrors, fmt, files)
    out[PITCH_MODEL_ID] = _PITCH
    return out


BUILTIN: dict[str, Checkpoint] = _builtin()


def _entry_from_json(d: object, origin: str) -> Checkpoint:
    if not isinstance(d, dict):
        raise CheckpointFormatError(f"{origin}: index entry {d!r:.80} is not an object; each entry needs id, "
                                    "model, sizeMb, description, url", origin)
    cid, url = d.get("id"), d.get("url")
    if not isinstance(cid, str) or not cid or "/" in cid or cid.startswith("."):
        raise CheckpointFormatError(f"{origin}: index entry has no valid 'id' (a name without '/'): {d!r:.80}",
                                    origin)
    if not isinstance(url, str) or not url:
        raise CheckpointFormatError(f"{origin}: entry {cid!r} has no 'url' (the checkpoint directory)", origin)
    mirrors = d.get("mirrors", [])
    if not isinstance(mirrors, list) or not all(isinstance(m, str) for m in mirrors):
        raise CheckpointFormatError(f"{origin}: entry {cid!r}: 'mirrors' must be a list of URLs", origin)
    fmt = d.get("format")
    model = str(d.get("model", "Custom"))
    if fmt is None:
        fmt = "graph" if model.startswith("DDSP") else "layers"
    if fmt not in FORMATS:
        raise CheckpointFormatError(f"{origin}: entry {cid!r}: format {fmt!r} is not one of {FORMATS}", origin)
    files_json = d.get("files", {})
    if not isinstance(files_json, dict):
        raise CheckpointFormatError(f"{origin}: entry {cid!r}: 'files' must map file names to "
                                    "{\"size\": bytes, \"sha256\": hex}", origin)
    files = []
    for name, spec in files_json.items():
        spec = spec or {}
        size, sha = spec.get("size"), spec.get("sha256")
        if (size is not None and (not isinstance(size, int) or size < 0)) or \
                (sha is not None and (not isinstance(sha, str) or len(sha) != 64)):
            raise CheckpointFormatError(f"{origin}: entry {cid!r}: file {name!r} needs an integer 'size' and a "
                                        "64-hex-digit 'sha256' (either may be omitted)", origin)
        files.append(FileSpec(name, size, sha.lower() if sha else None))
    if fmt == "files" and not files:
        raise CheckpointFormatError(f"{origin}: entry {cid!r} has format 'files' but lists no files", origin)
    try:
        size_mb = float(d.get("sizeMb", 0) or 0)
    except (TypeError, ValueError):
        raise CheckpointFormatError(f"{origin}: entry {cid!r}: sizeMb must be a number", origin) from None
    return Checkpoint(cid, model, size_mb, str(d.get("description", "")), url.rstrip("/"),
                      tuple(m.rstrip("/") for m in mirrors), fmt, tuple(files), origin)


def load_index_file(path: str | os.PathLike) -> list[Checkpoint]:
    """Read a user index file (a JSON list of entries, or ``{"checkpoints": [...]}``).

    Raises
    ------
    CheckpointError
        When the file is missing, not JSON, or an entry lacks an id or url.
    """
    p = Path(path).expanduser()
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointNotFoundError(f"index file {p} does not exist; fix ${INDEX_ENV} or --index", p) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CheckpointFormatError(f"index file {p} is not valid JSON ({exc}); it must be a list of "
                                    "{id, model, sizeMb, description, url} entries", p) from None
    if isinstance(data, dict) and isinstance(data.get("checkpoints"), list):
        data = data["checkpoints"]
    if not isinstance(data, list):
        raise CheckpointFormatError(f"index file {p} must hold a JSON list of checkpoint entries", p)
    return [_entry_from_json(d, str(p)) for d in data]


def check_index_argument(extra_index) -> None:
    """Refuse an ``extra_index`` that is neither None, a file name, nor a list of file names.

    Raises
    ------
    UsageError
        ``checkpoints.list(3)`` used to end in "'int' object is not iterable" (the message names the argument).
    """
    def is_name(v):
        return isinstance(v, (str, os.PathLike)) and not isinstance(os.fspath(v), bytes)

    if extra_index is None or is_name(extra_index) or \
            (isinstance(extra_index, (list, tuple)) and all(is_name(f) for f in extra_index)):
        return
    raise UsageError(f"extra_index must be the name of a JSON index file (str or pathlib.Path) or a list of them, "
                     f"got {type(extra_index).__name__} {extra_index!r:.40}")


def _index_files(extra_index) -> list[str]:
    check_index_argument(extra_index)
    files = []
    env = os.environ.get(INDEX_ENV, "")
    files += [f for f in env.split(os.pathsep) if f]
    if extra_index:
        files += [str(extra_index)] if isinstance(extra_index, (str, os.PathLike)) else [str(f) for f in extra_index]
    return files


def all_checkpoints(extra_index=None) -> dict[str, Checkpoint]:
    """Every checkpoint: the built-in ones, then user entries (which override built-ins of the same id).

    Parameters
    ----------
    extra_index : path or list of paths, optional
        User index files, read after those in ``$TONEHOST_INDEX``.

    Returns
    -------
    dict of str to Checkpoint
        In table order, user-only entries last.
    """
    out = dict(BUILTIN)
    for f in _index_files(extra_index):
        for entry in load_index_file(f):
            out[entry.id] = entry
    return out


def check_source(source, what: str = "checkpoint") -> str | os.PathLike:
    """``source`` if it can name a checkpoint: a ``str`` (an index id, a URL or a folder) or an ``os.PathLike``.

    The one type check of every entry point that takes a checkpoint (``checkpoints.info``/``fetch``, the model
    classes' ``checkpoint=``): ``MusicVAE(3)`` or ``checkpoints.fetch(None)`` used to end in a TypeError from
    deep inside pathlib or difflib.

    Parameters
    ----------
    source : object
        What the caller passed.
    what : str
        The argument's name in the message.

    Returns
    -------
    str or os.PathLike
        ``source`` unchanged.

    Raises
    ------
    UsageError
        ``source`` is of another type (None, a number, bytes, a list, a loaded model).
    """
    if isinstance(source, (str, os.PathLike)) and not isinstance(os.fspath(source), bytes):
        return source
    raise UsageError(f"{what} must be an index id (see `tonehost checkpoints list`), an http(s) URL or a "
                     f"checkpoint folder, as str or pathlib.Path; got {type(source).__name__} {source!r:.60}")


def get_checkpoint(checkpoint_id: str, extra_index=None) -> Checkpoint:
    """The index entry ``checkpoint_id``.

    Raises
    ------
    CheckpointNotFoundError
        Unknown id (the message lists close matches, whatever the case or surrounding spaces).
    UsageError
        ``checkpoint_id`` is not a string (:func:`check_source`).
    """
    checkpoint_id = os.fspath(check_source(checkpoint_id, "checkpoint_id"))
    entries = all_checkpoints(extra_index)
    if checkpoint_id in entries:
        return entries[checkpoint_id]
    import difflib
    close = difflib.get_close_matches(checkpoint_id.strip().lower(), list(entries), n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise CheckpointNotFoundError(f"unknown checkpoint id {checkpoint_id!r}.{hint} See `tonehost checkpoints "
                                  f"list`, or add your own to a JSON index file named by ${INDEX_ENV}.")


def index_json(extra_index=None, full: bool = False) -> list[dict]:
    """The index as JSON-ready dicts (Magenta.js's format, or every field with ``full``)."""
    return [c.to_full_json() if full else c.to_json() for c in all_checkpoints(extra_index).values()]


__all__ = ["Checkpoint", "FileSpec", "BUILTIN", "PITCH_MODEL_ID", "INDEX_ENV", "all_checkpoints",
           "check_source", "check_index_argument", "get_checkpoint", "load_index_file", "index_json", "CheckpointError"]
