"""Offline text-to-speech with eSpeak NG (the ``espeakng-loader`` wheel), driven through ctypes.

The API facts come from espeak-ng's public header ``speak_lib.h``: ``espeak_Initialize`` in
``AUDIO_OUTPUT_SYNCHRONOUS`` mode hands the int16 samples of each ``espeak_Synth`` call to the callback
set by ``espeak_SetSynthCallback``; ``espeak_SetVoiceByName("<language>+<variant>")`` picks an accent
and a voice variant; ``espeak_SetParameter`` sets rate (words a minute), pitch and pitch range (0-100)
and volume.

Determinism needs two measures, both found by experiment with eSpeak NG 1.52:

* eSpeak seeds its noise generator (breathy variants such as ``f2``, the Klatt voices) from the
  clock in ``espeak_Initialize``; ``espeak_ng_SetRandSeed`` (exported since 1.52) fixes it.
* The library keeps other global state from one utterance to the next (the same text comes out a
  few samples longer after a different utterance), and a second ``espeak_Initialize`` in the same
  process does not reset it. So ``EspeakSynthesizer`` never initialises eSpeak in the calling
  process: each utterance is rendered in a forked child (``os.fork``) that initialises the library,
  seeds it, synthesises once and hands the samples back through a pipe (about 5 ms of overhead).

One utterance's audio is then a function of its text, settings and seed only, whatever was
synthesised before and in whichever process.
"""

from __future__ import annotations

import ctypes
import functools
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wav2vec_hf.errors import Wav2VecHFError
from wav2vec_hf.extras import require_extra

TARGET_SAMPLE_RATE = 16_000
"""Sample rate of everything the corpus writes (Hz)."""

ESPEAK_SAMPLE_RATE = 22_050
"""eSpeak NG's output rate (Hz), as returned by ``espeak_Initialize``; checked at every initialisation."""

# speak_lib.h constants.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE = 1
_PARAM_VOLUME = 2
_PARAM_PITCH = 3
_PARAM_RANGE = 4
_EE_OK = 0

# Accent name used in speaker ids -> name that espeak_SetVoiceByName accepts (the voice file's name
# under espeak-ng-data/lang; "en-gb" itself is not accepted, its file is gmw/en) -> that file.
ENGLISH_ACCENTS: dict[str, tuple[str, str]] = {
    "en-us": ("en-us", "gmw/en-US"),
    "en-gb": ("en", "gmw/en"),
    "en-gb-scotland": ("en-gb-scotland", "gmw/en-GB-scotland"),
    "en-gb-x-rp": ("en-gb-x-rp", "gmw/en-GB-x-rp"),
    "en-gb-x-gbclan": ("en-gb-x-gbclan", "gmw/en-GB-x-gbclan"),
    "en-gb-x-gbcwmd": ("en-gb-x-gbcwmd", "gmw/en-GB-x-gbcwmd"),
    "en-us-nyc": ("en-us-nyc", "gmw/en-US-nyc"),
    "en-029": ("en-029", "gmw/en-029"),
}
"""English accents of the bundled data (Shavian-alphabet English left out: it reads another script)."""


@dataclass(frozen=True)
class VoiceSettings:
    """Everything that decides how one utterance sounds.

    accent: a key of ``ENGLISH_ACCENTS``. variant: a file name in ``espeak-ng-data/voices/!v``
    (``m1``, ``f2``, ``klatt`` ...) or ``None`` for the accent's own voice. rate: words a minute
    (eSpeak accepts 80-450; 175 is its default). pitch, pitch_range: 0-100 (50 normal). volume: 0-200
    (100 normal; louder distorts).
    """

    accent: str
    variant: str | None = None
    rate: int = 175
    pitch: int = 50
    pitch_range: int = 50
    volume: int = 100

    def voice_name(self) -> str:
        """The string handed to ``espeak_SetVoiceByName``."""
        name = ENGLISH_ACCENTS[self.accent][0]
        return f"{name}+{self.variant}" if self.variant else name


def espeak_data_dir() -> Path:
    """``espeak-ng-data`` of the installed ``espeakng-loader`` wheel (the ``tts`` extra)."""
    espeakng_loader = require_extra("espeakng_loader", "tts", "speech synthesis (the built-in corpus)")
    return Path(espeakng_loader.get_data_path())


@functools.cache
def _variant_files() -> tuple[str, ...]:
    return tuple(sorted(p.name for p in (espeak_data_dir() / "voices" / "!v").iterdir() if p.is_file()))


def available_variants() -> list[str]:
    """Voice variants (``m1``, ``f2``, ``klatt`` ...) in the bundled ``espeak-ng-data/voices/!v``."""
    return list(_variant_files())


def check_voice(settings: VoiceSettings) -> None:
    """Raise ValueError naming the bad field when eSpeak would not find or would ignore part of ``settings``.

    eSpeak silently ignores an unknown variant (``en-us+nonsense`` speaks as ``en-us``), so variants
    are checked against the files of the bundled data.
    """
    if settings.accent not in ENGLISH_ACCENTS:
        raise ValueError(f"unknown accent {settings.accent!r}; choose one of {sorted(ENGLISH_ACCENTS)}")
    language_file = espeak_data_dir() / "lang" / ENGLISH_ACCENTS[settings.accent][1]
    if not language_file.is_file():
        raise ValueError(f"accent {settings.accent!r}: eSpeak voice file {language_file} is missing")
    if settings.variant is not None and settings.variant not in available_variants():
        raise ValueError(
            f"unknown eSpeak voice variant {settings.variant!r}; the bundled data has {available_variants()}"
        )
    for field, value, low, high in (
        ("rate", settings.rate, 80, 450),
        ("pitch", settings.pitch, 0, 100),
        ("pitch_range", settings.pitch_range, 0, 100),
        ("volume", settings.volume, 1, 200),
    ):
        if not low <= value <= high:
            raise ValueError(f"VoiceSettings.{field}={value} is outside eSpeak's range {low}-{high}")


_INITIALIZED_IN_THIS_PROCESS = False


def espeak_initialized_in_this_process() -> bool:
    """Whether eSpeak was initialised in this very process (``isolate=False``): forked children then
    inherit used eSpeak state, so code that forks synthesis workers must spawn them instead."""
    return _INITIALIZED_IN_THIS_PROCESS


_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class _EspeakVoice(ctypes.Structure):
    """``espeak_VOICE`` of speak_lib.h (only read here, for the selected voice's identifier)."""

    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_char_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


class EspeakError(Wav2VecHFError, RuntimeError):
    """eSpeak NG failed to initialise, select a voice or synthesise."""


class EspeakSynthesizer:
    """eSpeak NG through ctypes: ``synthesize(text, settings, seed)`` -> int16 samples at ``sample_rate``.

    With ``isolate=True`` (default, needs ``os.fork``) every utterance is rendered in a forked child
    that initialises eSpeak afresh, so the output does not depend on what was synthesised before
    (module docstring); this process only loads the library. ``isolate=False`` (or a platform
    without ``os.fork``) initialises eSpeak once in this process: faster, but not reproducible
    across synthesis orders, and this process's eSpeak state stays changed for good.
    """

    sample_rate: int = ESPEAK_SAMPLE_RATE

    def __init__(self, isolate: bool = True):
        espeakng_loader = require_extra("espeakng_loader", "tts", "speech synthesis (the built-in corpus)")
        self.isolate = isolate and hasattr(os, "fork")
        if isolate and not self.isolate:
            warnings.warn(
                "os.fork is unavailable: eSpeak output will depend on the order of synthesis",
                stacklevel=2,
            )
        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self._declare_signatures()
        self._initialized_here = False
        self._chunks: list[bytes] = []
        # Keep a reference: ctypes frees the trampoline when the Python object goes away.
        self._callback = _SYNTH_CALLBACK(self._collect)

    def _declare_signatures(self) -> None:
        lib = self._lib
        if not hasattr(lib, "espeak_ng_SetRandSeed"):
            raise EspeakError(
                f"{lib._name} has no espeak_ng_SetRandSeed (eSpeak NG >= 1.52 needed for reproducible "
                "audio); upgrade espeakng-loader"
            )
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_ng_SetRandSeed.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_GetCurrentVoice.argtypes = []
        lib.espeak_GetCurrentVoice.restype = ctypes.POINTER(_EspeakVoice)
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,  # text
            ctypes.c_size_t,  # size
            ctypes.c_uint,  # position
            ctypes.c_int,  # position_type
            ctypes.c_uint,  # end_position
            ctypes.c_uint,  # flags
            ctypes.POINTER(ctypes.c_uint),  # unique_identifier
            ctypes.c_void_p,  # user_data
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.argtypes = []
        lib.espeak_Synchronize.restype = ctypes.c_int
        lib.espeak_Info.argtypes = [ctypes.c_void_p]
        lib.espeak_Info.restype = ctypes.c_char_p

    def _collect(self, wav, num_samples: int, events) -> int:
        # wav is NULL at the end of synthesis; num_samples may be 0 mid-way.
        if wav and num_samples > 0:
            self._chunks.append(ctypes.string_at(wav, num_samples * 2))
        return 0  # 0 = continue

    @property
    def version(self) -> str:
        """eSpeak NG library version, e.g. ``"1.52.0"`` (needs no initialisation)."""
        return self._lib.espeak_Info(None).decode()

    def synthesize(self, text: str, settings: VoiceSettings, seed: int = 0) -> np.ndarray:
        """Speech for ``text``: int16 array, shape (num_samples,), at ``self.sample_rate`` Hz (22050).

        ``seed`` drives eSpeak's noise generator (breath noise, Klatt voices). No pause is added
        before or after the speech.
        """
        check_voice(settings)
        if not text.strip():
            raise ValueError("cannot synthesise empty text")
        if self.isolate:
            raw = self._render_isolated(text, settings, seed)
        else:
            if not self._initialized_here:
                global _INITIALIZED_IN_THIS_PROCESS
                self._initialize()
                self._initialized_here = _INITIALIZED_IN_THIS_PROCESS = True
            raw = self._render(text, settings, seed)
        return np.frombuffer(raw, dtype="<i2").astype(np.int16)

    def _initialize(self) -> None:
        """``espeak_Initialize`` + callback in this process (a forked child, unless not isolating)."""
        # espeak_Initialize wants the folder that CONTAINS espeak-ng-data.
        data_parent = str(espeak_data_dir().parent).encode()
        rate = self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_parent, _INITIALIZE_DONT_EXIT)
        if rate != ESPEAK_SAMPLE_RATE:
            raise EspeakError(
                f"espeak_Initialize returned {rate} with data in {data_parent.decode()} "
                f"(expected its sample rate, {ESPEAK_SAMPLE_RATE})"
            )
        self._lib.espeak_SetSynthCallback(self._callback)

    def _render(self, text: str, settings: VoiceSettings, seed: int) -> bytes:
        """Run eSpeak (already initialised) in this process; little-endian int16 bytes."""
        lib = self._lib
        status = lib.espeak_SetVoiceByName(settings.voice_name().encode())
        if status != _EE_OK:
            raise EspeakError(f"espeak_SetVoiceByName({settings.voice_name()!r}) failed with status {status}")
        selected = lib.espeak_GetCurrentVoice()
        expected = ENGLISH_ACCENTS[settings.accent][1]
        identifier = (selected.contents.identifier or b"").decode() if selected else ""
        if identifier.split("+")[0] != expected:
            raise EspeakError(f"eSpeak selected voice {identifier!r} instead of {expected!r}")
        # Parameters after the voice: selecting a voice resets them.
        for parameter, value in (
            (_PARAM_RATE, settings.rate),
            (_PARAM_PITCH, settings.pitch),
            (_PARAM_RANGE, settings.pitch_range),
            (_PARAM_VOLUME, settings.volume),
        ):
            status = lib.espeak_SetParameter(parameter, value, 0)
            if status != _EE_OK:
                raise EspeakError(f"espeak_SetParameter({parameter}, {value}) failed with status {status}")
        lib.espeak_ng_SetRandSeed(seed & 0x7FFFFFFF)
        self._chunks = []
        encoded = text.encode("utf-8")
        status = lib.espeak_Synth(encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if status != _EE_OK:
            raise EspeakError(f"espeak_Synth failed with status {status} for {text!r}")
        lib.espeak_Synchronize()
        raw = b"".join(self._chunks)
        self._chunks = []
        if not raw:
            raise EspeakError(f"eSpeak produced no audio for {text!r} with {settings}")
        return raw

    def _render_isolated(self, text: str, settings: VoiceSettings, seed: int) -> bytes:
        """Initialise eSpeak and ``_render`` in a forked child; this process's eSpeak stays untouched."""
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: render, send b"K"+samples or b"E"+message, exit without Python cleanup
            exit_code = 1
            try:
                os.close(read_end)
                try:
                    self._initialize()
                    payload = b"K" + self._render(text, settings, seed)
                    exit_code = 0
                except BaseException as error:
                    payload = b"E" + f"{type(error).__name__}: {error}".encode()
                with os.fdopen(write_end, "wb") as pipe:
                    pipe.write(payload)
            finally:
                os._exit(exit_code)
        os.close(write_end)
        # Read everything before waiting: a child blocked on a full pipe would never exit.
        with os.fdopen(read_end, "rb") as pipe:
            payload = pipe.read()
        _, status = os.waitpid(pid, 0)
        if payload[:1] == b"E":
            raise EspeakError(payload[1:].decode(errors="replace"))
        exit_code = os.waitstatus_to_exitcode(status)
        if exit_code != 0 or payload[:1] != b"K":
            raise EspeakError(f"eSpeak child process for {text!r} died (exit status {exit_code})")
        return payload[1:]


def resample_to_16k(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """int16 samples at ``sample_rate`` -> float32 in [-1, 1] at 16 kHz (soxr, HQ), shape (num_out,)."""
    import soxr

    audio = samples.astype(np.float32) / 32768.0
    if sample_rate == TARGET_SAMPLE_RATE:
        return audio
    return soxr.resample(audio, sample_rate, TARGET_SAMPLE_RATE, quality="HQ").astype(np.float32)


def to_pcm16(audio: np.ndarray) -> np.ndarray:
    """float audio in [-1, 1] -> int16 (rounded, clipped)."""
    return np.clip(np.round(audio * 32768.0), -32768, 32767).astype(np.int16)
