"""The one audio loader: every waveform this package reads goes through here.

``load_audio(source, target_rate=16000)`` turns a file (path, bytes or a binary file object;
any format libsndfile reads: WAV, FLAC, OGG/Vorbis, MP3, AIFF, ...) into a float32 mono
waveform of shape ``(samples,)`` at the model's rate:

1. decode with ``soundfile`` to float32, shape ``(frames, channels)``;
2. mix multi-channel audio down to mono by averaging the channels (an error instead when
   ``strict_mono=True``);
3. resample with soxr (``"HQ"`` by default; ``"VHQ"`` on request) to ``target_rate``; the output
   always has exactly ``resampled_length(frames, rate, target_rate)`` samples;
4. reject NaN / inf samples (``AudioError`` naming the file);
5. optionally normalise per utterance: ``(x - mean) / sqrt(var + 1e-7)``.

Normalisation choice: fairseq normalises with ``layer_norm`` (eps 1e-5) and Hugging Face's
``Wav2Vec2FeatureExtractor`` with ``(x - mean) / sqrt(var + 1e-7)``. We use the latter (eps
``NORMALIZE_EPS``) so that training here and inference through a saved HF processor see the same
numbers; the two differ only for near-silent audio. Whether to normalise at all is a property of
the checkpoint (wav2vec 2.0 LARGE/LV60: yes, BASE: no), so the default is off.

Already-decoded arrays (e.g. a Hugging Face column holding ``{"array", "sampling_rate"}``) go
through the same steps 2-5 with ``prepare_waveform``. Integer arrays are PCM and are scaled to
[-1, 1) as libsndfile scales integer files: ``int8`` / ``int16`` / ``int32`` / ``int64`` are divided
by ``2 ** (bits - 1)`` (``int16 / 32768``, ``int32 / 2 ** 31``), ``uint8`` (8-bit WAV) becomes
``(x - 128) / 128``; float arrays are taken as they are (float32), booleans and complex numbers are
refused (``as_float_waveform``).

Truncated WAVs: a WAV whose header declares more frames than the file holds (an interrupted copy or
download) is read by libsndfile up to its end without an error; ``read_audio_info`` reports the
header's count in ``AudioInfo.declared_frames`` so that validation (``truncated``) and ``transcribe``
can say so instead of silently using the shorter audio.

Every failure raises ``AudioError`` (a ``ValueError``) with ``.path`` (the file or a display
name), ``.reason`` (a short code shared with ``validation.SkipReport``) and a message naming the
file and the fix. When libsndfile cannot open or decode a file the error says why, as far as can be
told (libsndfile itself reports a failed ``open(2)`` as "System error."):

* the file system refused it: ``permission_denied`` (check the file's permissions, or its folders'),
  ``missing_file`` (no such file, or the path names a folder), or ``unreadable`` (an I/O error);
* a container libsndfile reads, by its first bytes (``RIFF``, ``fLaC``, ``OggS``, ...) or else by its
  extension (``.wav``, ``.flac``, ``.ogg``, ...), that does not decode: ``unreadable`` saying the file
  is corrupt, with ``AudioError.known_format`` set (``"WAV"``, ...);
* anything else (M4A, MP4, WebM, ... or an encoding libsndfile does not implement): ``unreadable``
  saying to re-encode it; ``known_format`` is ``None``, and the pipeline hands such files to ffmpeg.
"""

from __future__ import annotations

import errno
import io
import math
import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple, Union

import numpy as np
import soundfile as sf
import soxr

from wav2vec_hf.errors import Wav2VecHFError

DEFAULT_SAMPLE_RATE = 16_000
NORMALIZE_EPS = 1e-7
RESAMPLE_QUALITIES = ("HQ", "VHQ")

AudioFile = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, BinaryIO]
"""What ``load_audio`` accepts: a path, the encoded file's bytes, or a readable binary file object."""

# Reason codes, shared with validation.SkipReport so skips and errors count under the same names.
MISSING_FILE = "missing_file"
PERMISSION_DENIED = "permission_denied"
UNREADABLE = "unreadable"
EMPTY = "empty"
NON_FINITE = "non_finite"
WRONG_RATE = "wrong_rate"
MULTICHANNEL = "multichannel"


class AudioError(Wav2VecHFError, ValueError):
    """A file that cannot become a clean waveform.

    Attributes:
        path: the file path, or a display name for in-memory audio.
        reason: a short code (``"unreadable"``, ``"empty"``, ``"non_finite"``, ...).
        known_format: for an ``"unreadable"`` file of a container libsndfile reads (by its first
            bytes or its extension: ``"WAV"``, ``"FLAC"``, ``"OGG"``, ...), that container: the file
            is corrupt. ``None`` otherwise (e.g. a format libsndfile does not read, such as M4A).
    """

    known_format: str | None = None

    def __init__(self, path: str, reason: str | None = None, message: str | None = None) -> None:
        if reason is None and message is None:
            # One argument: a whole message, as when a DataLoader worker re-raises the error in the
            # main process (``ExceptionWrapper`` calls ``type(error)(text)``).
            super().__init__(path)
            self.path, self.reason = "", UNREADABLE
            return
        super().__init__(f"{path}: {message}")
        self.path = path
        self.reason = reason or UNREADABLE


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says, read without decoding the samples.

    Attributes:
        frames: samples per channel at ``sample_rate``.
        sample_rate: Hz.
        channels: 1 for mono.
        format: libsndfile's container name (``"WAV"``, ``"FLAC"``, ...).
        subtype: libsndfile's sample encoding (``"PCM_16"``, ``"FLOAT"``, ...).
        declared_frames: frames the header declares when the file holds fewer (a truncated WAV:
            libsndfile reads what is there and ``frames`` counts that), else ``None``.
    """

    frames: int
    sample_rate: int
    channels: int
    format: str
    subtype: str
    declared_frames: int | None = None

    @property
    def truncated(self) -> bool:
        """The header declares more frames than the file holds."""
        return self.declared_frames is not None and self.declared_frames > self.frames


def describe_source(source: AudioFile, name: str | None = None) -> str:
    """The name errors use for ``source``: ``name`` if given, the path, or ``"<N bytes>"``."""
    if name is not None:
        return name
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes of audio>"
    return str(getattr(source, "name", "<audio file object>"))


def _open_target(source: AudioFile, label: str):
    """A path or file object soundfile can open; raises ``AudioError`` for a path that names no file."""
    if isinstance(source, (str, os.PathLike)):
        # os.stat, not pathlib: pathlib interns every path part for the life of the process, which
        # on a corpus of millions of files is memory that is never given back.
        try:
            mode = os.stat(source).st_mode
        except OSError as error:
            raise os_error(label, error, opening=False) from error
        except ValueError as error:  # a NUL byte in the path: nothing can be at it
            raise os_error(label, FileNotFoundError(errno.ENOENT, str(error))) from error
        if stat.S_ISDIR(mode):
            raise os_error(label, IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR)))
        if not stat.S_ISREG(mode):
            raise AudioError(
                label,
                MISSING_FILE,
                "not a regular file (a device, FIFO or socket); give the path of an audio file.",
            )
        return os.fspath(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(source))
    return source


def os_error(label: str, error: OSError, *, opening: bool = True) -> AudioError:
    """The ``AudioError`` for an operating-system error met reading ``label``, saying what it is.

    ``PermissionError`` -> ``permission_denied`` (the fix: the file's permissions, or those of its
    folders when ``opening=False``, i.e. the error came from looking the path up), a missing path or a
    folder -> ``missing_file``, anything else (an I/O error of the disk) -> ``unreadable``.
    """
    detail = f"{type(error).__name__}: {error.strerror or error}"
    if isinstance(error, PermissionError):
        where = (
            "this user cannot read the file; check the file's permissions and owner (`ls -l`; e.g. "
            "`chmod a+r` it)"
            if opening
            else "this user cannot enter a folder of this path; check the folders' permissions "
            "(`ls -ld` each; e.g. `chmod a+x` them)"
        )
        return AudioError(
            label,
            PERMISSION_DENIED,
            f"permission denied ({detail}): {where}, or remove the file from the data "
            "(on_bad='skip' skips such files and counts them).",
        )
    if isinstance(error, IsADirectoryError):
        return AudioError(
            label,
            MISSING_FILE,
            "is a directory, not an audio file; check the path (and the manifest's root folder).",
        )
    if isinstance(error, (FileNotFoundError, NotADirectoryError)):
        return AudioError(
            label, MISSING_FILE, "file not found; check the path (and the manifest's root folder)."
        )
    return AudioError(
        label,
        UNREADABLE,
        f"cannot read the file ({detail}): the disk or file system failed to read it; check the storage, "
        "copy the file again, or remove it (on_bad='skip' skips such files and counts them).",
    )


# libsndfile errors that say the container is known but its encoding is not one libsndfile decodes
# (SFE_UNSUPPORTED_ENCODING, SFE_UNIMPLEMENTED, SFE_WAV_WVPK_DATA): not corrupt, another decoder may read it.
_UNSUPPORTED_ENCODING_CODES = frozenset({4, 18, 78})

# Extensions of the containers libsndfile reads (soundfile.available_formats()).
LIBSNDFILE_EXTENSIONS = {
    ".wav": "WAV", ".wave": "WAV", ".bwf": "WAV", ".rf64": "WAV", ".w64": "W64", ".flac": "FLAC",
    ".ogg": "OGG", ".oga": "OGG", ".opus": "OGG", ".aif": "AIFF", ".aiff": "AIFF", ".aifc": "AIFF",
    ".au": "AU", ".caf": "CAF", ".mp3": "MP3",
}  # fmt: skip


def sniff_format(head: bytes) -> tuple[str, bool] | None:
    """``(format name, whether libsndfile reads it)`` from a file's first 12 bytes, or ``None``.

    Knows the containers libsndfile reads (WAV/RIFF, RF64, W64, FLAC, OGG, AIFF, AU, CAF, MP3) and
    common ones it does not (MP4/M4A, WebM/Matroska, ASF/WMA, AAC, AVI, WavPack, AMR).
    """
    four = head[:4]
    if four in (b"RIFF", b"RIFX"):
        return ("AVI", False) if head[8:12] == b"AVI " else ("WAV", True)
    if four == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "AIFF", True
    magic = {
        b"RF64": ("WAV", True), b"BW64": ("WAV", True), b"riff": ("W64", True), b"fLaC": ("FLAC", True),
        b"OggS": ("OGG", True), b".snd": ("AU", True), b"caff": ("CAF", True),
        b"\x1a\x45\xdf\xa3": ("WebM/Matroska", False), b"\x30\x26\xb2\x75": ("ASF/WMA", False),
        b"wvpk": ("WavPack", False), b"#!AM": ("AMR", False),
    }  # fmt: skip
    if four in magic:
        return magic[four]
    if head[4:8] == b"ftyp":
        return "MP4/M4A", False
    if head[:2] in (b"\xff\xf1", b"\xff\xf9"):
        return "AAC", False
    if head[:3] == b"ID3" or (
        len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06
    ):
        return "MP3", True
    return None


def _head_of(source: AudioFile, label: str) -> tuple[bytes | None, AudioError | None]:
    """The first bytes of ``source`` (a file object is restored to its position), or the error of reading them."""
    if isinstance(source, (str, os.PathLike)):
        try:
            with open(source, "rb") as handle:
                return handle.read(12), None
        except OSError as error:
            return None, os_error(label, error)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source[:12]), None
    try:
        position = source.tell()
        try:
            source.seek(0)
            return source.read(12), None
        finally:
            source.seek(position)
    except Exception:  # not seekable: nothing to look at
        return None, None


def _format_of(source: AudioFile, head: bytes | None, name: str | None) -> tuple[str | None, str]:
    """``(libsndfile format or None, how it was told)``: ``how`` is ``"header"``, ``"extension"``,
    ``"foreign:NAME"`` (a container libsndfile does not read) or ``""``."""
    sniffed = sniff_format(head) if head else None
    if sniffed is not None:
        fmt, reads = sniffed
        return (fmt, "header") if reads else (None, f"foreign:{fmt}")
    path = name if name is not None else source if isinstance(source, (str, os.PathLike)) else None
    path = path if path is not None else getattr(source, "name", None)
    suffix = os.path.splitext(os.fspath(path))[1].lower() if isinstance(path, (str, os.PathLike)) else ""
    fmt = LIBSNDFILE_EXTENSIONS.get(suffix)
    return (fmt, "extension") if fmt else (None, "")


def _unreadable(label: str, error: Exception, source: AudioFile | None = None) -> AudioError:
    """What a failure to decode ``source`` is: an OS error (permissions, ...), a corrupt file of a format
    libsndfile reads (``AudioError.known_format`` set), or a format libsndfile does not read."""
    if isinstance(error, OSError):
        return os_error(label, error)
    head = None
    if source is not None:
        head, os_failure = _head_of(source, label)
        if os_failure is not None:  # libsndfile's "System error." says no more: this says which
            return os_failure
    fmt, how = _format_of(source, head, label) if source is not None else (None, "")
    code = getattr(error, "code", None)
    cause = f"cannot decode this audio ({type(error).__name__}: {error})"
    skip = "(on_bad='skip' skips such files and counts them)"
    if fmt is not None and code in _UNSUPPORTED_ENCODING_CODES:
        return AudioError(
            label,
            UNREADABLE,
            f"{cause}: a {fmt} file in an encoding libsndfile does not decode; re-encode it to WAV (PCM) or "
            f"FLAC (e.g. `ffmpeg -i FILE -ar 16000 out.wav`), or remove it {skip}.",
        )
    if fmt is not None:
        if how == "header":
            what = f"it starts with a {fmt} header but the rest cannot be decoded (damaged or cut short)"
        elif head == b"":
            what = "it holds 0 bytes (an interrupted copy or download)"
        else:
            what = (
                f"it is named {Path(label).suffix} but does not start with a {fmt} header "
                "(damaged, or not an audio file)"
            )
        failure = AudioError(
            label,
            UNREADABLE,
            f"{cause}: the file is corrupt: {what}. Copy it again from its source (or re-encode it from "
            f"the original), or remove it {skip}.",
        )
        failure.known_format = fmt
        return failure
    if how.startswith("foreign:"):
        return AudioError(
            label,
            UNREADABLE,
            f"{cause}: the file is {how.split(':', 1)[1]}, a format libsndfile does not read; re-encode it to "
            f"WAV or FLAC (e.g. `ffmpeg -i FILE -ar 16000 out.wav`), or remove it {skip}.",
        )
    return AudioError(
        label,
        UNREADABLE,
        f"{cause}. The file is corrupt, truncated or in a format libsndfile does not read; re-encode it "
        f"to WAV or FLAC, or remove it {skip}.",
    )


_UNKNOWN_CHUNK_SIZES = (0, 0xFFFFFFFF)  # what streaming writers put in a size they cannot know yet


def wav_declared_frames(source: AudioFile) -> int | None:
    """Frames the ``data`` chunk of a RIFF/WAVE header declares (size / block align), or ``None``.

    Reads the chunk headers only (walks from chunk to chunk). ``None`` for anything that is not a
    little-endian RIFF WAVE file, for a size a streaming writer left unset (0 or 0xFFFFFFFF), or
    when the header cannot be walked. A file object is read from its current position, which is
    restored.
    """
    if isinstance(source, (str, os.PathLike)):
        try:
            with open(source, "rb") as handle:
                return _walk_wav_chunks(handle)
        except OSError:
            return None
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _walk_wav_chunks(io.BytesIO(bytes(source)))
    try:
        position = source.tell()
    except (AttributeError, OSError):
        return None
    try:
        return _walk_wav_chunks(source)
    finally:
        source.seek(position)


def _walk_wav_chunks(handle) -> int | None:
    head = handle.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    block_align = None
    for _ in range(64):  # a WAV has a handful of chunks before its data
        chunk = handle.read(8)
        if len(chunk) < 8:
            return None
        chunk_id, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
        if chunk_id == b"fmt ":
            fmt = handle.read(min(size, 16))
            if len(fmt) < 14:
                return None
            block_align = struct.unpack("<H", fmt[12:14])[0]
            handle.seek(size - len(fmt) + (size & 1), io.SEEK_CUR)
        elif chunk_id == b"data":
            if not block_align or size in _UNKNOWN_CHUNK_SIZES:
                return None
            return size // block_align
        else:
            handle.seek(size + (size & 1), io.SEEK_CUR)
    return None


def read_audio_info(source: AudioFile, *, name: str | None = None) -> AudioInfo:
    """Read a file's header (frames, rate, channels) without decoding it.

    For a WAV, ``declared_frames`` is set when the header declares more frames than the file holds.

    Args:
        source: path, encoded bytes or binary file object.
        name: how errors refer to the source (defaults to the path).

    Raises:
        AudioError: missing file, or a header libsndfile cannot parse.
    """
    label = describe_source(source, name)
    target = _open_target(source, label)
    try:
        info = sf.info(target)
    except Exception as error:  # libsndfile raises several types for broken headers
        raise _unreadable(label, error, source) from error
    declared = None
    if str(info.format) in ("WAV", "WAVEX") and isinstance(
        source, (str, os.PathLike, bytes, bytearray, memoryview)
    ):
        declared = wav_declared_frames(source)
        if declared is not None and declared <= int(info.frames):
            declared = None  # complete (or padded): nothing to report
    return AudioInfo(
        frames=int(info.frames),
        sample_rate=int(info.samplerate),
        channels=int(info.channels),
        format=str(info.format),
        subtype=str(info.subtype),
        declared_frames=declared,
    )


def truncation_message(info: AudioInfo) -> str:
    """What to tell about a truncated file (``info.truncated``)."""
    held = info.frames / info.sample_rate
    declared = (info.declared_frames or 0) / info.sample_rate
    return (
        f"truncated: the header declares {info.declared_frames} frames ({declared:.2f} s) but the file "
        f"holds {info.frames} ({held:.2f} s); it was cut short (an interrupted copy or download)"
    )


def read_audio(source: AudioFile, *, name: str | None = None) -> tuple[np.ndarray, int]:
    """Decode a whole file as it is stored.

    Returns:
        ``(waveform, sample_rate)``: float32 of shape ``(frames, channels)`` in [-1, 1] for PCM
        input, and the file's rate in Hz.

    Raises:
        AudioError: missing, corrupt or empty file.
    """
    label = describe_source(source, name)
    target = _open_target(source, label)
    try:
        waveform, rate = sf.read(target, dtype="float32", always_2d=True)
    except Exception as error:
        raise _unreadable(label, error, source) from error
    if waveform.shape[0] == 0:
        raise AudioError(label, EMPTY, "the file holds 0 samples; remove it from the data.")
    return waveform, int(rate)


INTEGER_CODED_SUBTYPES = frozenset({"PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "ULAW", "ALAW"})
"""libsndfile subtypes that store integers (FLAC's are among them): decoded, every sample is finite."""


class DecodedWindow(NamedTuple):
    """What ``read_audio_window`` decoded."""

    waveform: np.ndarray  # float32 (frames, channels)
    sample_rate: int
    integer_coded: bool  # stored as integers (``INTEGER_CODED_SUBTYPES``): no sample can be NaN or inf


def read_audio_window(
    source: str | os.PathLike[str],
    start: int,
    frames: int,
    *,
    name: str | None = None,
    out: np.ndarray | None = None,
) -> DecodedWindow:
    """Decode ``frames`` frames of a file from frame ``start``, as stored, reading only that part.

    libsndfile seeks in WAV, FLAC and OGG: a 5 s crop of a 30 s FLAC file decodes about 5 s.

    Args:
        out: float32 ``(frames, channels)`` C-contiguous array to decode into (a row of a batch),
            instead of a new array; the file must have that many channels.

    Returns:
        ``DecodedWindow``: the float32 ``(frames, channels)`` samples (fewer frames when the file ends
        first; a view of ``out`` when given), the file's rate, and whether it stores integers (then
        the samples need no finite check).

    Raises:
        AudioError: missing or corrupt file, or nothing at ``start``.
    """
    label = describe_source(source, name)
    target = _open_target(source, label)
    try:
        with sf.SoundFile(target) as handle:
            if start:
                handle.seek(int(start))
            waveform = handle.read(int(frames), dtype="float32", always_2d=True, out=out)
            rate, subtype = handle.samplerate, handle.subtype
    except Exception as error:
        raise _unreadable(label, error, source) from error
    if waveform.shape[0] == 0:
        raise AudioError(
            label, EMPTY, f"no samples from frame {start} on; the file is shorter than its header said."
        )
    return DecodedWindow(waveform, int(rate), subtype in INTEGER_CODED_SUBTYPES)


def resampled_length(num_samples, orig_rate, target_rate: int):
    """Samples after resampling ``num_samples`` from ``orig_rate`` to ``target_rate`` (Hz).

    ``round(num_samples * target_rate / orig_rate)`` with halves rounded up, in exact integer
    arithmetic; soxr produces this length and ``resample`` enforces it, so batch sizes computed
    from headers match the decoded audio. Integers give an ``int``; integer arrays (one length and
    rate per utterance) give an int64 array of the same shape.
    """
    if isinstance(num_samples, np.ndarray) or isinstance(orig_rate, np.ndarray):
        samples = np.asarray(num_samples, dtype=np.int64)
        rates = np.asarray(orig_rate, dtype=np.int64)
        resampled = (2 * samples * int(target_rate) + rates) // (2 * rates)
        return np.where(rates == int(target_rate), samples, resampled)
    if orig_rate == target_rate:
        return int(num_samples)
    return (2 * int(num_samples) * int(target_rate) + int(orig_rate)) // (2 * int(orig_rate))


RESAMPLE_MARGIN = 1024
"""Input samples read on each side of a window resampled alone, per unit of ``orig_rate / target_rate``
(rounded up): beyond soxr HQ's filter, so the window's samples match the whole file's to float
rounding (measured: <= 1.5e-7 from 8 to 48 kHz; 256 is not enough at 48 kHz)."""


@dataclass(frozen=True)
class ResampledWindow:
    """Which input samples give samples ``[start, start + frames)`` of a resampled file.

    Attributes:
        read_start, read_frames: the input window to decode (at the file's rate), margins included.
        offset: where the wanted samples begin in the resampled window.
    """

    read_start: int
    read_frames: int
    offset: int


def resampled_window(
    start: int, frames: int, num_samples: int, orig_rate: int, target_rate: int
) -> ResampledWindow:
    """The input window whose resampling holds output samples ``[start, start + frames)`` of the whole
    file (``num_samples`` at ``orig_rate``) resampled to ``target_rate``.

    The window starts on a sample where input and output grids meet (a multiple of
    ``orig_rate / gcd``), so its resampled samples fall on the whole file's output grid, and it reaches
    ``RESAMPLE_MARGIN`` input samples (scaled by the rate ratio) past both ends of the wanted part.
    """
    common = math.gcd(int(orig_rate), int(target_rate))
    step_in, step_out = int(orig_rate) // common, int(target_rate) // common
    margin = RESAMPLE_MARGIN * -(-int(orig_rate) // int(target_rate))
    margin_out = -(-margin * step_out // step_in)
    block = max(0, (int(start) - margin_out) // step_out)
    read_start = block * step_in
    read_stop = min(int(num_samples), -(-(int(start) + int(frames)) * step_in // step_out) + margin)
    return ResampledWindow(read_start, read_stop - read_start, int(start) - block * step_out)


def resample(waveform: np.ndarray, orig_rate: int, target_rate: int, *, quality: str = "HQ") -> np.ndarray:
    """Resample a mono float32 waveform ``(samples,)`` from ``orig_rate`` to ``target_rate`` Hz.

    Uses soxr (band-limited, linear phase; ``"HQ"`` keeps the passband flat to ~0.9 of Nyquist).
    The result has exactly ``resampled_length(len(waveform), orig_rate, target_rate)`` samples.
    """
    if quality not in RESAMPLE_QUALITIES:
        raise ValueError(f"resample quality must be one of {RESAMPLE_QUALITIES}, got {quality!r}")
    if orig_rate == target_rate:
        return waveform
    out = soxr.resample(waveform, orig_rate, target_rate, quality=quality).astype(np.float32, copy=False)
    expected = resampled_length(len(waveform), orig_rate, target_rate)
    # soxr already returns this length; the guard keeps the header-derived lengths exact if a
    # future soxr rounds differently.
    if len(out) > expected:
        out = out[:expected]
    elif len(out) < expected:
        out = np.pad(out, (0, expected - len(out)))
    return out


def normalize_waveform(waveform: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance over one utterance ``(samples,)``: ``(x - mean) / sqrt(var + 1e-7)``."""
    centred = waveform - waveform.mean(dtype=np.float64)
    return (centred / np.sqrt(centred.var(dtype=np.float64) + NORMALIZE_EPS)).astype(np.float32)


def as_float_waveform(waveform, *, name: str = "<array>") -> np.ndarray:
    """``waveform`` as float32 in the loader's scale (see the module docstring for the integer rule).

    Accepts numpy arrays, torch tensors and sequences. Raises ``AudioError`` for booleans, complex
    numbers and other non-numeric data.
    """
    if hasattr(waveform, "detach"):  # a torch tensor
        waveform = waveform.detach().cpu().numpy()
    array = np.asarray(waveform)
    kind = array.dtype.kind
    if kind == "f":
        return array.astype(np.float32, copy=False)
    if kind == "i":
        return (array.astype(np.float64) / float(2 ** (8 * array.dtype.itemsize - 1))).astype(np.float32)
    if kind == "u" and array.dtype.itemsize == 1:
        return ((array.astype(np.float32) - 128.0) / 128.0).astype(np.float32)
    if kind == "u":
        bits = 8 * array.dtype.itemsize
        return ((array.astype(np.float64) - 2.0 ** (bits - 1)) / 2.0 ** (bits - 1)).astype(np.float32)
    raise AudioError(
        name,
        UNREADABLE,
        f"audio arrays hold numbers (float, or integer PCM), got dtype {array.dtype}; pass the waveform "
        "as float32 in [-1, 1] or as int16 / int32 PCM.",
    )


def to_mono(waveform: np.ndarray, *, strict: bool = False, name: str = "<array>") -> np.ndarray:
    """Mix ``(frames, channels)`` down to ``(frames,)`` by averaging the channels.

    A 1-D input is returned as float32 (integer arrays scaled, see ``as_float_waveform``). With
    ``strict=True`` more than one channel is an ``AudioError`` instead of a mixdown.
    """
    waveform = as_float_waveform(waveform, name=name)
    if waveform.ndim == 1:
        return waveform
    if waveform.ndim != 2:
        raise AudioError(name, UNREADABLE, f"expected a waveform of 1 or 2 dimensions, got {waveform.shape}.")
    if waveform.shape[1] == 1:
        return waveform[:, 0]
    if strict:
        raise AudioError(
            name,
            MULTICHANNEL,
            f"has {waveform.shape[1]} channels and mono input was required; mix it down "
            "(e.g. `sox in.wav -c 1 out.wav`) or allow the loader to average channels (strict_mono=False).",
        )
    return waveform.mean(axis=1, dtype=np.float32)


def looks_channels_first(shape: tuple[int, ...]) -> bool:
    """Guess for a 2-D array: ``(channels, frames)`` when it has at most 8 rows and more columns."""
    return len(shape) == 2 and shape[0] <= 8 and shape[0] < shape[1]


def prepare_waveform(
    waveform: np.ndarray,
    sample_rate: int,
    target_rate: int | None = DEFAULT_SAMPLE_RATE,
    *,
    normalize: bool = False,
    strict_mono: bool = False,
    expected_rate: int | None = None,
    resample_quality: str = "HQ",
    name: str = "<array>",
    channels_first: bool | None = None,
    assume_finite: bool = False,
) -> np.ndarray:
    """Mono, finite, resampled and (optionally) normalised float32 ``(samples,)`` from decoded audio.

    Args:
        waveform: ``(samples,)``, ``(frames, channels)`` or ``(channels, frames)``; float, or integer
            PCM (scaled to [-1, 1), see ``as_float_waveform``); a torch tensor is accepted.
        sample_rate: rate of ``waveform`` in Hz.
        target_rate: rate to return, Hz; ``None`` keeps ``sample_rate``.
        normalize: per-utterance zero mean / unit variance (see module docstring).
        strict_mono: more than one channel is an error instead of a mixdown.
        expected_rate: if given, a ``sample_rate`` other than this is an error (no silent resampling).
        resample_quality: soxr quality, ``"HQ"`` or ``"VHQ"``.
        name: how errors refer to this audio.
        channels_first: layout of a 2-D ``waveform``. ``None`` guesses: an array with at most 8
            rows and more columns than rows is ``(channels, frames)``, as some decoders return it.
        assume_finite: skip the NaN/inf scan: the caller knows every sample is finite (decoded from
            integers, ``DecodedWindow.integer_coded``).

    Raises:
        AudioError: empty, NaN/inf, multi-channel under ``strict_mono``, wrong rate under ``expected_rate``.
    """
    array = as_float_waveform(waveform, name=name)
    if array.ndim == 2:
        if channels_first is None:
            channels_first = looks_channels_first(array.shape)
        if channels_first:
            array = array.T
    if expected_rate is not None and int(sample_rate) != int(expected_rate):
        raise AudioError(
            name,
            WRONG_RATE,
            f"sample rate is {sample_rate} Hz but {expected_rate} Hz was required; resample the file "
            f"(e.g. `sox in.wav -r {expected_rate} out.wav`) or drop the strict rate to let the loader resample.",
        )
    mono = to_mono(array, strict=strict_mono, name=name)
    if mono.shape[0] == 0:
        raise AudioError(name, EMPTY, "the audio holds 0 samples; remove it from the data.")
    if not assume_finite and not np.isfinite(mono).all():
        bad = int((~np.isfinite(mono)).sum())
        raise AudioError(
            name,
            NON_FINITE,
            f"{bad} of {mono.shape[0]} samples are NaN or infinite; re-export the file from its source, "
            "or remove it (on_bad='skip' skips such files and counts them).",
        )
    if target_rate is not None:
        mono = resample(mono, int(sample_rate), int(target_rate), quality=resample_quality)
    if normalize:
        mono = normalize_waveform(mono)
    return mono


def check_decodes(source: AudioFile, *, name: str | None = None, block_frames: int = 1 << 20) -> int:
    """Decode a whole file block by block, as validation does, without holding it in memory.

    Returns:
        The frames decoded (fewer than the header's count for a file cut short).

    Raises:
        AudioError: missing or corrupt file, 0 frames, or NaN / inf samples (the same reasons and
            messages as ``load_audio``).
    """
    label = describe_source(source, name)
    target = _open_target(source, label)
    frames = bad = 0
    try:
        for block in sf.blocks(target, blocksize=block_frames, dtype="float32", always_2d=True):
            frames += block.shape[0]
            bad += int(block.shape[0] - np.isfinite(block).all(axis=1).sum())
    except Exception as error:
        raise _unreadable(label, error, source) from error
    if frames == 0:
        raise AudioError(label, EMPTY, "the file holds 0 samples; remove it from the data.")
    if bad:
        raise AudioError(
            label,
            NON_FINITE,
            f"{bad} of {frames} samples are NaN or infinite; re-export the file from its source, "
            "or remove it (on_bad='skip' skips such files and counts them).",
        )
    return frames


def load_audio(
    source: AudioFile,
    target_rate: int | None = DEFAULT_SAMPLE_RATE,
    *,
    normalize: bool = False,
    strict_mono: bool = False,
    expected_rate: int | None = None,
    resample_quality: str = "HQ",
    name: str | None = None,
) -> np.ndarray:
    """Decode a file into the model's input: float32 mono ``(samples,)`` at ``target_rate`` Hz.

    Args:
        source: path, encoded bytes, or binary file object (any format libsndfile reads).
        target_rate: output rate in Hz (16000 for the wav2vec family); ``None`` keeps the file's rate.
        normalize: per-utterance zero mean / unit variance, ``(x - mean) / sqrt(var + 1e-7)``.
        strict_mono: refuse multi-channel files instead of averaging their channels.
        expected_rate: refuse files whose rate is not this (Hz) instead of resampling them.
        resample_quality: soxr quality, ``"HQ"`` (default) or ``"VHQ"``.
        name: how errors refer to the source (defaults to the path).

    Returns:
        float32 array ``(resampled_length(frames, file_rate, target_rate),)``.

    Raises:
        AudioError: missing, corrupt or empty file, NaN/inf samples, or a strict-mode violation;
            the message names the file and the fix.
    """
    label = describe_source(source, name)
    waveform, rate = read_audio(source, name=label)
    return prepare_waveform(
        waveform,
        rate,
        target_rate,
        normalize=normalize,
        strict_mono=strict_mono,
        expected_rate=expected_rate,
        resample_quality=resample_quality,
        name=label,
        channels_first=False,
    )


@dataclass(frozen=True)
class DecodedAudio:
    """Audio that arrives already decoded (e.g. a dataset column ``{"array", "sampling_rate"}``).

    Attributes:
        array: ``(samples,)``, ``(frames, channels)`` or ``(channels, frames)``.
        sample_rate: Hz.
    """

    array: np.ndarray
    sample_rate: int

    def info(self) -> AudioInfo:
        """Header-like description (``format="ARRAY"``)."""
        array = np.asarray(self.array)
        if array.ndim == 1:
            frames, channels = array.shape[0], 1
        else:
            rows, cols = array.shape[:2]
            frames, channels = (cols, rows) if looks_channels_first(array.shape) else (rows, cols)
        return AudioInfo(
            frames=int(frames),
            sample_rate=int(self.sample_rate),
            channels=int(channels),
            format="ARRAY",
            subtype=str(array.dtype),
        )


AudioPayload = str | bytes | DecodedAudio
"""What a data source hands the loader for one utterance: a file path, encoded bytes, or decoded audio."""


def payload_info(payload: AudioPayload, *, name: str | None = None) -> AudioInfo:
    """``read_audio_info`` for any payload (decoded audio is described from its array)."""
    if isinstance(payload, DecodedAudio):
        return payload.info()
    return read_audio_info(payload, name=name)


def load_payload(
    payload: AudioPayload,
    target_rate: int | None = DEFAULT_SAMPLE_RATE,
    *,
    name: str | None = None,
    **options,
) -> np.ndarray:
    """``load_audio`` for any payload; ``options`` are ``load_audio``'s keyword arguments."""
    if isinstance(payload, DecodedAudio):
        return prepare_waveform(
            payload.array, payload.sample_rate, target_rate, name=name or "<decoded audio>", **options
        )
    return load_audio(payload, target_rate, name=name, **options)
