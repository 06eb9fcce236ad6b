"""The built-in speech corpus: a small labelled English corpus synthesised offline with eSpeak NG.

Splits follow the papers' setting: ``unlabeled`` (pretraining audio), ``labeled`` (a small
"10 minutes"-style fine-tuning set), ``dev`` and ``test``. A speaker is an eSpeak accent plus a voice
variant (``en-gb-scotland_f2``); the speakers of dev and of test never speak in unlabeled/labeled
(nor in each other), while every accent and every variant is heard in training. Sentences come from
the seeded grammar of ``wav2vec_hf.recipes.corpus_text``; no sentence is spoken twice in the corpus, and the LM
text (``lm_text.txt``, same distribution) holds no dev or test sentence.

Layout under ``OUT`` (every path relative to ``OUT``)::

    audio/<split>/<index>_<speaker>.wav   16 kHz mono PCM16
    <split>.tsv                  fairseq manifest: first line the absolute corpus folder, then
                                 ``audio/<split>/<file>.wav<TAB>num_samples``
    <split>.wrd, <split>.ltr     one line per manifest row: words / ``H E L L O | W O R L D |``
    <split>_transcripts.tsv      header ``path num_samples sample_rate speaker transcript``
    lm_text.txt                  LM training sentences, one a line
    words.txt                    the closed vocabulary, one word a line
    dict.ltr.txt                 fairseq letter dictionary (``symbol count``) of the training text
    corpus.json                  arguments, voices per split, counts, seconds, versions

Determinism: every utterance's text, speaker, rate, pitch and padding are fixed by ``(seed, split,
index)`` before synthesis, and eSpeak renders each utterance from the same initial state (see
``tts``), so the same arguments give byte-identical files for any number of workers. Each split is
the shortest prefix of its utterance sequence that reaches the requested minutes. The build happens in
a hidden sibling folder that is renamed to ``OUT`` at the end, so a killed build never leaves a
corpus that looks complete.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import random
import re
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wav2vec_hf.data.normalization import TRANSCRIPT_ALPHABET
from wav2vec_hf.recipes.corpus_text import (
    WORD_BOUNDARY,
    letters_line,
    load_lexicon,
    sentence_stream,
)
from wav2vec_hf.recipes.tts import (
    ENGLISH_ACCENTS,
    TARGET_SAMPLE_RATE,
    EspeakSynthesizer,
    VoiceSettings,
    check_voice,
    espeak_initialized_in_this_process,
    resample_to_16k,
    to_pcm16,
)

GENERATOR_VERSION = 1
"""Bump when a change alters the produced files (grammar, voices, prosody, layout)."""

SPLITS = ("unlabeled", "labeled", "dev", "test")
# Evaluation splits are planned first: their sentences then do not depend on the training sizes.
_PLANNING_ORDER = ("test", "dev", "labeled", "unlabeled")

ACCENTS = tuple(ENGLISH_ACCENTS)
VARIANTS = ("m1", "m2", "m3", "m4", "m6", "m7", "klatt3", "klatt4", "f1", "f2", "f3", "f4")
"""eSpeak variants used as voices: clear male, female and Klatt-synthesiser voices. Left out: whisper,
robot and novelty voices, and ``klatt``/``klatt2``, whose bursts peak at 15-25x their RMS level."""

_FIRST_GUESS_SECONDS = 3.3  # mean utterance length used to size the first synthesis batch
_MAX_PEAK = 0.9  # speech is never louder than this (full scale = 1)
_NOISE_FLOOR = 3e-4  # std of the added white noise (about -70 dBFS): no digitally silent frames


def speaker_id(accent: str, variant: str) -> str:
    """``en-gb-scotland_f2``: accent and eSpeak variant."""
    return f"{accent}_{variant}"


def speakers_by_split() -> dict[str, tuple[str, ...]]:
    """Speaker ids per split; dev and test hold out disjoint accent x variant pairs.

    Pair (accent i, variant j) goes to dev when (i + j) % 8 == 0, to test when it is 1, else to the
    training pool shared by unlabeled and labeled. With 8 accents and 12 variants each held-out set
    has 12 speakers and uses every variant once, so no voice quality is unseen in training.
    """
    held_out: dict[str, list[str]] = {"dev": [], "test": [], "train": []}
    for i, accent in enumerate(ACCENTS):
        for j, variant in enumerate(VARIANTS):
            slot = (i + j) % len(ACCENTS)
            group = "dev" if slot == 0 else "test" if slot == 1 else "train"
            held_out[group].append(speaker_id(accent, variant))
    train = tuple(held_out["train"])
    return {
        "unlabeled": train,
        "labeled": train,
        "dev": tuple(held_out["dev"]),
        "test": tuple(held_out["test"]),
    }


def _speaker_voice(speaker: str) -> tuple[str, str]:
    accent, variant = speaker.rsplit("_", 1)
    return accent, variant


@dataclass(frozen=True)
class SpeakerStyle:
    """A speaker's habitual rate (words a minute), pitch and pitch range (eSpeak 0-100 scales)."""

    rate: int
    pitch: int
    pitch_range: int


def speaker_style(seed: int, speaker: str) -> SpeakerStyle:
    """Deterministic per-speaker prosody: moderate rates keep the speech clear."""
    rng = random.Random(f"wav2vec-hf corpus speaker:{seed}:{speaker}")
    return SpeakerStyle(
        rate=rng.randint(155, 180), pitch=rng.randint(35, 65), pitch_range=rng.randint(35, 65)
    )


@dataclass(frozen=True)
class UtterancePlan:
    """Everything needed to render one utterance; fixed before any synthesis."""

    split: str
    index: int
    speaker: str
    transcript: str  # normalised, UPPERCASE
    voice: VoiceSettings
    lead_seconds: float  # silence before the speech
    trail_seconds: float  # silence after the speech
    rms: float  # speech level (RMS, full scale = 1) the speech is scaled to
    noise_seed: int

    @property
    def relative_path(self) -> str:
        return f"audio/{self.split}/{self.index:06d}_{self.speaker}.wav"


def _plan_utterance(
    seed: int, split: str, index: int, speakers: tuple[str, ...], transcript: str
) -> UtterancePlan:
    rng = random.Random(f"wav2vec-hf corpus utterance:{seed}:{split}:{index}")
    speaker = rng.choice(speakers)
    accent, variant = _speaker_voice(speaker)
    style = speaker_style(seed, speaker)
    voice = VoiceSettings(
        accent=accent,
        variant=variant,
        rate=style.rate + rng.randint(-10, 10),
        pitch=style.pitch + rng.randint(-4, 4),
        pitch_range=style.pitch_range + rng.randint(-5, 5),
    )
    return UtterancePlan(
        split=split,
        index=index,
        speaker=speaker,
        transcript=transcript,
        voice=voice,
        lead_seconds=round(rng.uniform(0.05, 0.25), 3),
        trail_seconds=round(rng.uniform(0.05, 0.25), 3),
        rms=round(rng.uniform(0.045, 0.09), 4),
        noise_seed=rng.getrandbits(63),
    )


class _SplitPlanner:
    """Lazily extends one split's deterministic sequence of utterance plans."""

    def __init__(self, seed: int, split: str, speakers: tuple[str, ...], exclude: set[str]):
        self.seed = seed
        self.split = split
        self.speakers = speakers
        self._sentences = sentence_stream(seed, split, exclude=exclude)
        self.plans: list[UtterancePlan] = []

    def extend(self, count: int) -> list[UtterancePlan]:
        new = []
        for _ in range(count):
            index = len(self.plans)
            plan = _plan_utterance(self.seed, self.split, index, self.speakers, next(self._sentences))
            self.plans.append(plan)
            new.append(plan)
        return new


# ----------------------------------------------------------------------------------------------------
# Worker side: one synthesiser per pool process (it forks a fresh eSpeak per utterance)
# ----------------------------------------------------------------------------------------------------

_WORKER_SYNTHESIZER: EspeakSynthesizer | None = None


def _init_worker() -> None:
    global _WORKER_SYNTHESIZER
    _WORKER_SYNTHESIZER = EspeakSynthesizer()


def render_utterance(plan: UtterancePlan, synthesizer: EspeakSynthesizer) -> np.ndarray:
    """16 kHz int16 audio of ``plan``, shape (num_samples,): padding + speech + a faint noise floor.

    The speech is scaled to RMS ``plan.rms`` (peaks limited to ``_MAX_PEAK`` by scaling down): eSpeak's
    own level differs by accent and variant, and a level that says who speaks is a shortcut we do not
    want models to learn.
    """
    speech = resample_to_16k(
        synthesizer.synthesize(plan.transcript.lower() + ".", plan.voice, seed=plan.noise_seed),
        synthesizer.sample_rate,
    )
    speech *= plan.rms / max(float(np.sqrt(np.mean(speech**2))), 1e-6)
    speech *= min(1.0, _MAX_PEAK / max(float(np.abs(speech).max()), 1e-6))
    lead = np.zeros(round(plan.lead_seconds * TARGET_SAMPLE_RATE), dtype=np.float32)
    trail = np.zeros(round(plan.trail_seconds * TARGET_SAMPLE_RATE), dtype=np.float32)
    audio = np.concatenate([lead, speech, trail])
    noise = np.random.Generator(np.random.PCG64(plan.noise_seed)).standard_normal(audio.shape[0])
    return to_pcm16(audio + _NOISE_FLOOR * noise.astype(np.float32))


def _render_to_file(job: tuple[UtterancePlan, str]) -> tuple[int, int]:
    """Worker task: write one wav under the build folder; (index, num_samples)."""
    import soundfile

    plan, build_dir = job
    audio = render_utterance(plan, _WORKER_SYNTHESIZER)
    path = Path(build_dir) / plan.relative_path
    soundfile.write(str(path), audio, TARGET_SAMPLE_RATE, subtype="PCM_16", format="WAV")
    return plan.index, int(audio.shape[0])


# ----------------------------------------------------------------------------------------------------
# Building
# ----------------------------------------------------------------------------------------------------


@dataclass
class BuiltCorpus:
    """A finished corpus folder and its ``corpus.json`` contents."""

    root: Path
    info: dict
    reused: bool = False
    seconds_taken: float = 0.0

    def manifest(self, split: str) -> Path:
        """The fairseq manifest ``<split>.tsv``."""
        return self.root / f"{split}.tsv"

    def transcripts(self, split: str) -> Path:
        """``<split>_transcripts.tsv`` (path, num_samples, sample_rate, speaker, transcript)."""
        return self.root / f"{split}_transcripts.tsv"

    def summary(self) -> str:
        """Human-readable table of what the corpus holds."""
        lines = [f"corpus at {self.root}" + (" (already built, reused)" if self.reused else "")]
        for split in SPLITS:
            s = self.info["splits"][split]
            lines.append(
                f"  {split:<9} {s['utterances']:>5} utterances  {s['seconds'] / 60:6.2f} min  "
                f"{len(s['speakers']):>2} speakers  {s['min_seconds']:.1f}-{s['max_seconds']:.1f} s each"
            )
        lines.append(
            f"  lm_text   {self.info['lm_sentences']} sentences; vocabulary {self.info['vocabulary_size']} words; "
            f"total audio {self.info['total_seconds'] / 60:.2f} min"
        )
        if not self.reused:
            lines.append(f"  built in {self.seconds_taken:.1f} s")
        return "\n".join(lines)


def _validate_minutes(name: str, value: float) -> float:
    if isinstance(value, bool) or not (
        isinstance(value, (int, float)) and math.isfinite(value) and value > 0
    ):
        raise ValueError(
            f"{name}={value!r}: give a positive number of minutes (e.g. 0.3 for a tiny test corpus)"
        )
    return float(value)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_partials(out_dir: Path) -> None:
    """Delete ``.<name>.partial-<pid>`` folders of builds whose process is gone (killed builds)."""
    pattern = re.compile(rf"^\.{re.escape(out_dir.name)}\.(partial|old)-(\d+)$")
    if not out_dir.parent.is_dir():
        return
    for candidate in out_dir.parent.iterdir():
        match = pattern.match(candidate.name)
        if match and candidate.is_dir() and not _pid_alive(int(match.group(2))):
            shutil.rmtree(candidate, ignore_errors=True)


def _looks_complete(out_dir: Path, info: dict) -> bool:
    """Every split's manifest and as many wavs as ``corpus.json`` counts are present."""
    for split in SPLITS:
        expected = info.get("splits", {}).get(split, {}).get("utterances")
        if not (out_dir / f"{split}.tsv").is_file() or expected is None:
            return False
        if sum(1 for _ in (out_dir / "audio" / split).glob("*.wav")) != expected:
            return False
    return (out_dir / "lm_text.txt").is_file()


def _synthesize_split(
    planner: _SplitPlanner,
    target_seconds: float,
    pool,
    build_dir: Path,
    progress,
) -> list[tuple[UtterancePlan, int]]:
    """Render utterances in order until their total reaches ``target_seconds``; the shortest such prefix."""
    (build_dir / "audio" / planner.split).mkdir(parents=True, exist_ok=True)
    lengths: list[int] = []
    mean_seconds = _FIRST_GUESS_SECONDS
    while sum(lengths) < target_seconds * TARGET_SAMPLE_RATE:
        missing = target_seconds - sum(lengths) / TARGET_SAMPLE_RATE
        batch = planner.extend(math.ceil(missing / mean_seconds * 1.1) + 1)
        jobs = [(plan, str(build_dir)) for plan in batch]
        for index, num_samples in pool.imap(_render_to_file, jobs, chunksize=4):
            assert index == len(lengths), "results must arrive in plan order"
            before = sum(lengths) / TARGET_SAMPLE_RATE
            lengths.append(num_samples)
            after = sum(lengths) / TARGET_SAMPLE_RATE
            # Whole seconds keep the bar readable; capped at the split's target.
            progress.update(round(min(after, target_seconds)) - round(min(before, target_seconds)))
        mean_seconds = sum(lengths) / len(lengths) / TARGET_SAMPLE_RATE
    total, keep = 0, 0
    while total < target_seconds * TARGET_SAMPLE_RATE:
        total += lengths[keep]
        keep += 1
    for plan in planner.plans[keep:]:  # rendered beyond the prefix: not part of the corpus
        (build_dir / plan.relative_path).unlink()
    del planner.plans[keep:]
    return list(zip(planner.plans, lengths[:keep]))


def _write_text(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8", newline="\n")


def _write_split_files(
    build_dir: Path, final_root: Path, split: str, rows: list[tuple[UtterancePlan, int]]
) -> None:
    _write_text(
        build_dir / f"{split}.tsv",
        [str(final_root), *(f"{plan.relative_path}\t{n}" for plan, n in rows)],
    )
    _write_text(build_dir / f"{split}.wrd", [plan.transcript for plan, _ in rows])
    _write_text(build_dir / f"{split}.ltr", [letters_line(plan.transcript) for plan, _ in rows])
    _write_text(
        build_dir / f"{split}_transcripts.tsv",
        [
            "path\tnum_samples\tsample_rate\tspeaker\ttranscript",
            *(
                f"{plan.relative_path}\t{n}\t{TARGET_SAMPLE_RATE}\t{plan.speaker}\t{plan.transcript}"
                for plan, n in rows
            ),
        ],
    )


def _letter_dictionary(transcripts: list[str]) -> list[str]:
    """fairseq ``dict.ltr.txt`` lines: every transcript symbol and ``|``, most frequent first."""
    counts: Counter[str] = Counter({symbol: 0 for symbol in TRANSCRIPT_ALPHABET + WORD_BOUNDARY})
    for transcript in transcripts:
        counts.update(letters_line(transcript).split(" "))
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [f"{symbol} {count}" for symbol, count in ordered]


def _lm_sentences(seed: int, count: int, exclude: set[str]) -> list[str]:
    stream: Iterator[str] = sentence_stream(seed, "lm", exclude=exclude)
    return [next(stream) for _ in range(count)]


def build_corpus(
    out_dir: str | os.PathLike,
    unlabeled_minutes: float = 20.0,
    labeled_minutes: float = 3.0,
    dev_minutes: float = 2.0,
    test_minutes: float = 2.0,
    seed: int = 0,
    num_workers: int | None = None,
    lm_sentences: int = 20_000,
    overwrite: bool = False,
    progress: bool = True,
) -> BuiltCorpus:
    """Synthesise the corpus into ``out_dir`` (layout in the module docstring); returns what was built.

    Each split gets at least its minutes of audio (the shortest prefix of its utterances that reaches
    them). ``num_workers`` processes synthesise in parallel (default: the usable CPU cores); the files
    do not depend on it. If ``out_dir`` already holds a corpus built with the same arguments, it is
    reused as is; a different corpus there is replaced only with ``overwrite=True``.
    """
    started = time.perf_counter()
    minutes = {
        "unlabeled": _validate_minutes("unlabeled_minutes", unlabeled_minutes),
        "labeled": _validate_minutes("labeled_minutes", labeled_minutes),
        "dev": _validate_minutes("dev_minutes", dev_minutes),
        "test": _validate_minutes("test_minutes", test_minutes),
    }
    if not isinstance(lm_sentences, int) or lm_sentences < 1:
        raise ValueError(f"lm_sentences={lm_sentences!r}: give a positive number of LM text sentences")
    if num_workers is None:
        num_workers = (
            len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        )
    if num_workers < 1:
        raise ValueError(f"num_workers={num_workers}: give at least 1")

    out_dir = Path(out_dir).expanduser().resolve()
    config = {
        "generator_version": GENERATOR_VERSION,
        "espeak_ng_version": EspeakSynthesizer().version,
        "seed": int(seed),
        "minutes": minutes,
        "lm_sentences": lm_sentences,
    }
    existing = out_dir / "corpus.json"
    if existing.is_file() and not overwrite:
        try:
            info = json.loads(existing.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            info = {}
        if isinstance(info, dict) and info.get("config") == config and _looks_complete(out_dir, info):
            return BuiltCorpus(out_dir, info, reused=True, seconds_taken=time.perf_counter() - started)
    if out_dir.exists() and not overwrite and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise FileExistsError(
            f"{out_dir} exists and does not hold a complete corpus built with these arguments; "
            "choose another folder or pass overwrite=True (--overwrite) to replace it"
        )

    speakers = speakers_by_split()
    for split_speakers in speakers.values():
        for speaker in split_speakers:
            check_voice(VoiceSettings(*_speaker_voice(speaker)))

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(out_dir)
    build_dir = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
    shutil.rmtree(build_dir, ignore_errors=True)
    build_dir.mkdir()
    try:
        info = _build_into(build_dir, out_dir, config, minutes, speakers, num_workers, progress)
        _replace_folder(build_dir, out_dir)
    except BaseException:
        shutil.rmtree(build_dir, ignore_errors=True)
        raise
    return BuiltCorpus(out_dir, info, reused=False, seconds_taken=time.perf_counter() - started)


def _build_into(
    build_dir: Path,
    final_root: Path,
    config: dict,
    minutes: dict[str, float],
    speakers: dict[str, tuple[str, ...]],
    num_workers: int,
    progress: bool,
) -> dict:
    from tqdm import tqdm

    seed = config["seed"]
    rows_by_split: dict[str, list[tuple[UtterancePlan, int]]] = {}
    used_sentences: set[str] = set()
    # fork: workers start at once and need no importable __main__ (spawn would re-import torch via
    # wav2vec_hf.data and needs the `if __name__ == "__main__":` guard). Forking is safe because this
    # process never initialises eSpeak, unless someone used EspeakSynthesizer(isolate=False) here:
    # then workers are spawned so that they do not inherit used eSpeak state.
    use_fork = "fork" in multiprocessing.get_all_start_methods() and not espeak_initialized_in_this_process()
    context = multiprocessing.get_context("fork" if use_fork else "spawn")
    with context.Pool(processes=num_workers, initializer=_init_worker) as pool:
        total_seconds = sum(minutes.values()) * 60
        with tqdm(
            total=round(total_seconds),
            unit="s",
            desc="synthesising corpus",
            disable=not progress,
            leave=False,
        ) as bar:
            for split in _PLANNING_ORDER:
                planner = _SplitPlanner(seed, split, speakers[split], exclude=set(used_sentences))
                rows = _synthesize_split(planner, minutes[split] * 60, pool, build_dir, bar)
                rows_by_split[split] = rows
                used_sentences.update(plan.transcript for plan, _ in rows)

    evaluation_sentences = {plan.transcript for split in ("dev", "test") for plan, _ in rows_by_split[split]}
    lm_text = _lm_sentences(seed, config["lm_sentences"], evaluation_sentences)
    train_transcripts = [
        plan.transcript for split in ("labeled", "unlabeled") for plan, _ in rows_by_split[split]
    ]
    vocabulary = sorted(load_lexicon().vocabulary())

    for split in SPLITS:
        _write_split_files(build_dir, final_root, split, rows_by_split[split])
    _write_text(build_dir / "lm_text.txt", lm_text)
    _write_text(build_dir / "words.txt", vocabulary)
    _write_text(build_dir / "dict.ltr.txt", _letter_dictionary(train_transcripts))

    splits_info = {}
    for split in SPLITS:
        rows = rows_by_split[split]
        seconds = [n / TARGET_SAMPLE_RATE for _, n in rows]
        splits_info[split] = {
            "utterances": len(rows),
            "seconds": round(sum(seconds), 3),
            "min_seconds": round(min(seconds), 3),
            "max_seconds": round(max(seconds), 3),
            "speakers": sorted({plan.speaker for plan, _ in rows}),
            "speaker_pool": list(speakers[split]),
        }
    info = {
        "config": config,
        "sample_rate": TARGET_SAMPLE_RATE,
        "splits": splits_info,
        "total_seconds": round(sum(s["seconds"] for s in splits_info.values()), 3),
        "lm_sentences": len(lm_text),
        "vocabulary_size": len(vocabulary),
        "accents": list(ACCENTS),
        "variants": list(VARIANTS),
    }
    # Written last: a folder with corpus.json is a finished corpus.
    _write_text(build_dir / "corpus.json", [json.dumps(info, indent=2, sort_keys=True)])
    return info


def _replace_folder(build_dir: Path, out_dir: Path) -> None:
    """Move the finished build to ``out_dir``, replacing what is there (renames, so never half-done)."""
    if out_dir.exists():
        old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
        shutil.rmtree(old, ignore_errors=True)
        out_dir.rename(old)
        build_dir.rename(out_dir)
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink()
    else:
        build_dir.rename(out_dir)
