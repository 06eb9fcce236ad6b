"""A CTC processor with an n-gram LM decoder, in the Hub's ``*-with-lm`` folder layout.

Folder layout (what ``save_pretrained`` writes next to a model, and what stock Hub repositories such
as ``*-with-lm`` models hold)::

    processor_config.json / preprocessor_config.json   feature extractor; "processor_class":
                                                        "CTCProcessorWithLanguageModel" (stock
                                                        folders: "Wav2Vec2ProcessorWithLM")
    vocab.json, tokenizer_config.json, ...              the Wav2Vec2CTCTokenizer
    alphabet.json                                       decoder labels, one per tokenizer id
    language_model/                                     <name>.arpa|.bin, unigrams.txt, attrs.json

The files other than the class name are the stock ones, with the stock meaning of ``attrs.json``, so
stock folders load here and pyctcdecode reads ours. With ``wav2vec_hf`` imported (its Auto-class
registration, ``inference.registration``), ``AutoProcessor.from_pretrained(folder)`` returns this
class for our folders, and for stock ``*-with-lm`` folders once transformers no longer ships
``Wav2Vec2ProcessorWithLM`` (deprecated in transformers 5, removed in v6); while it ships it, stock
folders keep their stock class. ``pipeline("automatic-speech-recognition", model=folder)`` decodes
our models with this decoder (``inference.pipeline``). Nothing here imports pyctcdecode or
``Wav2Vec2ProcessorWithLM``. The class name deliberately does not end in ``WithLM``: transformers'
pipeline loader side-loads pyctcdecode for any processor class with that ending.

Stock transformers without ``wav2vec_hf`` does not know the class name: it loads the model and
``Wav2Vec2Processor.from_pretrained(folder)``, and its pipeline decodes greedily (as every
``*-with-lm`` folder will in transformers v6).

This processor decodes with ``CTCBeamSearchDecoder`` (see ``decoder``), which only needs logits and
the tokenizer's vocabulary, so it serves every fine-tuned generation (wav2vec, vq-wav2vec,
wav2vec 2.0 with CTC heads).

Parallel decoding uses one ``DecoderPool`` per processor, created on the first call that asks for
several processes and reused by every later call (``close()`` or ``with`` ends it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wav2vec_hf.decoding.alphabet import (
    SPECIAL_TOKEN,
    check_alphabet_matches,
    labels_from_vocabulary,
    read_alphabet,
    write_alphabet,
)
from wav2vec_hf.decoding.decoder import CTCBeamSearchDecoder, DecodeOptions, DecodingError, Hypothesis
from wav2vec_hf.decoding.language_model import (
    LANGUAGE_MODEL_FOLDER,
    FusionWeights,
    NgramLanguageModel,
    read_lm_folder,
    read_unigrams,
    write_attrs,
)
from wav2vec_hf.decoding.parallel import DecoderPool, DecoderSpec, decode_in_pool
from wav2vec_hf.progress import progress_bar

LEGACY_PROCESSOR_CLASS = "Wav2Vec2ProcessorWithLM"
"""The class stock ``*-with-lm`` folders name (transformers' deprecated pyctcdecode processor)."""
PADDING_VALUE = -100.0
"""Logit rows of this value are padding (transformers' convention for batched logits)."""


@dataclass
class LMDecoderOutput:
    """What ``batch_decode`` returns (lists over the batch; with ``n_best > 1`` lists of n-best lists).

    Attributes:
        text: transcriptions.
        logit_score: acoustic scores (log-probability of the CTC paths of the text).
        lm_score: fused LM scores (``alpha * ln(10) * log10 P + beta * words``, see ``Hypothesis``).
        total_score: ``logit_score + lm_score``, what hypotheses are ranked by.
        word_offsets: per hypothesis a list of ``{"word", "start_offset", "end_offset"}`` (frames), when asked.
        hypotheses: the full ``Hypothesis`` objects (n-best lists).
    """

    text: list
    logit_score: list
    lm_score: list
    total_score: list
    word_offsets: list | None = None
    hypotheses: list[list[Hypothesis]] = field(default_factory=list)


def _patch_processor_class(folder: Path) -> None:
    """Name this processor class in every saved config that carries a ``processor_class``.

    transformers 5 nests the feature extractor inside ``processor_config.json``; ``AutoProcessor``
    reads the top-level name, older (v4) readers ``preprocessor_config.json`` or
    ``tokenizer_config.json``, and the pipeline loader the nested dict: all name the same class.
    """
    for name in ("processor_config.json", "preprocessor_config.json", "tokenizer_config.json"):
        path = folder / name
        if not path.is_file():
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            continue
        data["processor_class"] = PROCESSOR_CLASS
        for nested in ("feature_extractor", "audio_processor"):
            if isinstance(data.get(nested), dict):
                data[nested]["processor_class"] = PROCESSOR_CLASS
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _unpad(logits) -> list[np.ndarray]:
    """Per-utterance (frames, vocabulary) arrays from a padded (batch, frames, vocabulary) array or a list.

    Rows whose values are all ``PADDING_VALUE`` are dropped, as transformers does.
    """
    if hasattr(logits, "detach"):  # a torch tensor
        logits = logits.detach().float().cpu().numpy()
    if isinstance(logits, np.ndarray):
        if logits.ndim != 3:
            raise DecodingError(
                f"batched logits must be 3-D (batch, frames, vocabulary); got shape {logits.shape}"
            )
        items = list(logits)
    else:
        items = [x.detach().float().cpu().numpy() if hasattr(x, "detach") else np.asarray(x) for x in logits]
    return [x[~(x == PADDING_VALUE).all(axis=-1)] if x.ndim == 2 else x for x in items]


class CTCProcessorWithLanguageModel:
    """Feature extractor + ``Wav2Vec2CTCTokenizer`` + n-gram beam-search decoder.

    Args:
        feature_extractor: the model's feature extractor (``Wav2Vec2FeatureExtractor``).
        tokenizer: its ``Wav2Vec2CTCTokenizer``.
        decoder: a ``CTCBeamSearchDecoder`` whose labels match the tokenizer vocabulary.
        decode_defaults: default ``DecodeOptions`` of ``batch_decode`` (beam width etc.).
    """

    def __init__(self, feature_extractor, tokenizer, decoder: CTCBeamSearchDecoder, decode_defaults=None):
        check_alphabet_matches(decoder.labels, tokenizer.get_vocab(), "CTCProcessorWithLanguageModel")
        self.feature_extractor = feature_extractor
        self.tokenizer = tokenizer
        self.decoder = decoder
        self.decode_defaults = decode_defaults or DecodeOptions()
        self._pool: DecoderPool | None = None

    # ---------------------------------------------------------------- building, saving, loading

    @classmethod
    def from_processor(
        cls,
        processor,
        lm_path: str | os.PathLike[str],
        unigrams: Iterable[str] | None = None,
        weights: FusionWeights | None = None,
    ) -> CTCProcessorWithLanguageModel:
        """Attach an LM file (ARPA or KenLM binary) to a ``Wav2Vec2Processor`` (or anything with
        ``feature_extractor`` and ``tokenizer``). ``unigrams`` default to ``unigrams.txt`` beside the
        LM file, else to the ARPA file's words."""
        lm_path = Path(lm_path)
        if unigrams is None and (lm_path.parent / "unigrams.txt").is_file():
            unigrams = read_unigrams(lm_path.parent / "unigrams.txt")
        lm = NgramLanguageModel.from_file(lm_path, unigrams, weights)
        labels = labels_from_vocabulary(processor.tokenizer.get_vocab())
        return cls(processor.feature_extractor, processor.tokenizer, CTCBeamSearchDecoder(labels, lm))

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike[str], **kwargs) -> CTCProcessorWithLanguageModel:
        """Load a processor-with-LM folder (ours or a stock Hub one; also what ``AutoProcessor`` calls).

        Hub ids are not fetched here: download the repository first
        (``huggingface_hub.snapshot_download``) and pass its folder. ``kwargs`` go to the feature
        extractor's and tokenizer's ``from_pretrained`` (``trust_remote_code`` is not needed: the
        classes are transformers' own).
        """
        from transformers import AutoFeatureExtractor, Wav2Vec2CTCTokenizer

        kwargs.pop("trust_remote_code", None)
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(
                f"{folder}: not a folder; give a local processor-with-LM folder (download Hub repos first)"
            )
        decoder = load_lm_decoder(folder)
        feature_extractor = AutoFeatureExtractor.from_pretrained(str(folder), **kwargs)
        tokenizer = Wav2Vec2CTCTokenizer.from_pretrained(str(folder), **kwargs)
        check_alphabet_matches(decoder.labels, tokenizer.get_vocab(), str(folder / "alphabet.json"))
        return cls(feature_extractor, tokenizer, decoder)

    def save_pretrained(self, folder: str | os.PathLike[str]) -> Path:
        """Write the processor files, ``alphabet.json`` and ``language_model/`` into ``folder``.

        Model files already in ``folder`` (config, weights) are left alone.
        """
        from transformers import Wav2Vec2Processor

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        Wav2Vec2Processor(feature_extractor=self.feature_extractor, tokenizer=self.tokenizer).save_pretrained(
            str(folder)
        )
        _patch_processor_class(folder)
        write_alphabet(folder, self.decoder.labels)
        if self.decoder.language_model is not None:
            self.decoder.language_model.save_to_dir(folder / LANGUAGE_MODEL_FOLDER)
        return folder

    # ---------------------------------------------------------------- audio / text (stock behaviour)

    def __call__(self, *args, **kwargs):
        """Features of audio (``audio=``) and/or token ids of text (``text=``), as ``Wav2Vec2Processor``."""
        from transformers import Wav2Vec2Processor

        return Wav2Vec2Processor(feature_extractor=self.feature_extractor, tokenizer=self.tokenizer)(
            *args, **kwargs
        )

    @property
    def language_model(self) -> NgramLanguageModel | None:
        return self.decoder.language_model

    def set_weights(self, **weights) -> FusionWeights:
        """Change the default fusion weights (``alpha``, ``beta``, ``unk_score_offset``, ``score_boundary``)."""
        lm = self.decoder.language_model
        if lm is None:
            raise DecodingError("this processor has no language model to weight")
        current = lm.weights.to_json()
        unknown = set(weights) - set(current)
        if unknown:
            raise DecodingError(f"unknown LM weight(s) {sorted(unknown)}; known: {sorted(current)}")
        current.update({k: v for k, v in weights.items() if v is not None})
        lm.weights = FusionWeights.from_json(current, "set_weights")
        return lm.weights

    # ---------------------------------------------------------------- decoding

    def _pool_for(self, processes: int, start_method: str | None) -> DecoderPool:
        pool = self._pool
        if (
            pool is not None
            and not pool.closed
            and pool.processes == processes
            and (start_method is None or pool.start_method == start_method)
        ):
            return pool
        if pool is not None:
            pool.close()  # a different size or start method was asked for: replace, never accumulate
        self._pool = DecoderPool(processes, start_method)
        return self._pool

    def batch_decode(
        self,
        logits,
        pool=None,
        num_processes: int | None = None,
        start_method: str | None = None,
        output_word_offsets: bool = False,
        progress: bool = False,
        **options,
    ) -> LMDecoderOutput:
        """Decode a batch of logits with the LM.

        Args:
            logits: (batch, frames, vocabulary) array/tensor (rows of -100.0 are padding) or a list of
                (frames, vocabulary) arrays.
            pool: a ``multiprocessing`` pool of your own to decode in (fork or spawn).
            num_processes: decode in this many worker processes of the processor's own pool (created on
                first use, reused by later calls). 1 / ``None``: in this process.
            start_method: start method of the processor's pool (``"fork"``, ``"spawn"``).
            output_word_offsets: return word frame offsets.
            progress: a progress bar over the frames on stderr (only when stderr is a terminal; with
                worker processes it moves as each worker's share finishes).
            **options: ``DecodeOptions`` fields: ``beam_width``, ``alpha``, ``beta``,
                ``unk_score_offset``, ``score_boundary``, ``hotwords``, ``hotword_weight``, ``lexicon``,
                ``n_best``, ``token_min_logp``, ``beam_prune_logp``, ``max_tokens_per_frame``.
        """
        merged = {**self.decode_defaults.__dict__, **{k: v for k, v in options.items() if v is not None}}
        merged["word_offsets"] = bool(output_word_offsets)
        decode_options = DecodeOptions.from_kwargs(**merged)
        items = _unpad(logits)
        if not items:
            raise DecodingError("no logits to decode (empty batch)")
        for i, item in enumerate(items):
            if item.ndim != 2 or item.shape[0] == 0:
                raise DecodingError(
                    f"utterance {i}: empty logits (shape {item.shape}); every utterance needs at least one frame"
                )
        items = [self._fit_columns(item) for item in items]
        total = sum(item.shape[0] for item in items)
        with progress_bar(
            total=total, desc="beam search", unit="frame", unit_scale=True, enabled=progress
        ) as bar:
            report = bar.update if progress else None
            if pool is not None:
                n_workers = getattr(pool, "_processes", None) or 1
                results = decode_in_pool(
                    pool, DecoderSpec.of(self.decoder), items, decode_options, n_workers, report
                )
            elif num_processes is not None and num_processes > 1 and len(items) > 1:
                results = self._pool_for(num_processes, start_method).decode(
                    DecoderSpec.of(self.decoder), items, decode_options, report
                )
            else:
                results = self.decoder.decode_batch(items, decode_options, report)
        return self._output(results, decode_options.n_best, output_word_offsets)

    def decode(self, logits, output_word_offsets: bool = False, **options) -> LMDecoderOutput:
        """Decode one utterance's (frames, vocabulary) logits; the fields hold single values."""
        out = self.batch_decode([logits], output_word_offsets=output_word_offsets, **options)
        return LMDecoderOutput(
            text=out.text[0],
            logit_score=out.logit_score[0],
            lm_score=out.lm_score[0],
            total_score=out.total_score[0],
            word_offsets=out.word_offsets[0] if out.word_offsets is not None else None,
            hypotheses=out.hypotheses,
        )

    def _fit_columns(self, logits: np.ndarray) -> np.ndarray:
        """Logits with fewer columns than labels are fine when only special tokens (never emitted) lack one."""
        n_labels = len(self.decoder.labels)
        columns = logits.shape[-1]
        if columns < n_labels and all(SPECIAL_TOKEN.match(label) for label in self.decoder.labels[columns:]):
            padding = np.full((logits.shape[0], n_labels - columns), -np.inf, dtype=logits.dtype)
            return np.concatenate([logits, padding], axis=1)
        return logits

    @staticmethod
    def _output(results: list[list[Hypothesis]], n_best: int, with_offsets: bool) -> LMDecoderOutput:
        def pick(values: list):
            return values if n_best > 1 else values[0]

        def offsets(h: Hypothesis) -> list[dict]:
            return [
                {"word": w.word, "start_offset": w.start_offset, "end_offset": w.end_offset}
                for w in h.word_offsets
            ]

        return LMDecoderOutput(
            text=[pick([h.text for h in hyps]) for hyps in results],
            logit_score=[pick([h.acoustic_score for h in hyps]) for hyps in results],
            lm_score=[pick([h.lm_score for h in hyps]) for hyps in results],
            total_score=[pick([h.total_score for h in hyps]) for hyps in results],
            word_offsets=[pick([offsets(h) for h in hyps]) for hyps in results] if with_offsets else None,
            hypotheses=results,
        )

    def close(self) -> None:
        """Stop the processor's worker pool, if it has one."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __enter__(self) -> CTCProcessorWithLanguageModel:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


PROCESSOR_CLASS = CTCProcessorWithLanguageModel.__name__
"""The ``processor_class`` our folders save (``AutoProcessor`` finds it once ``wav2vec_hf`` is imported)."""


def load_lm_decoder(folder: str | os.PathLike[str]) -> CTCBeamSearchDecoder:
    """The beam-search decoder of a processor-with-LM folder: ``alphabet.json`` + ``language_model/``
    (ARPA or KenLM binary, ``unigrams.txt``, ``attrs.json`` weights).

    Raises:
        LanguageModelError: (``AlphabetError`` included) a missing or bad file, named, with the fix.
    """
    folder = Path(folder)
    labels = read_alphabet(folder)
    return CTCBeamSearchDecoder(labels, NgramLanguageModel.load_from_dir(folder / LANGUAGE_MODEL_FOLDER))


def check_lm_files(folder: str | os.PathLike[str]) -> Path | None:
    """Check a model folder's LM files without reading the n-gram model; its LM file, or None when the
    folder has no ``language_model/`` (a leftover ``alphabet.json`` alone is ignored).

    For loaders that hand the folder to stock code (transformers' pipeline, pyctcdecode): bad input
    is named here, with the fix, before their errors can say less. KenLM's own read is theirs; wrap
    it in ``kenlm_read_error`` of the returned file.

    Raises:
        LanguageModelError: (``AlphabetError`` included) any bad LM file, named, with the fix.
    """
    folder = Path(folder)
    if not (folder / LANGUAGE_MODEL_FOLDER).exists():
        return None
    labels = read_alphabet(folder)
    lm_file, _, _ = read_lm_folder(folder / LANGUAGE_MODEL_FOLDER)
    vocab_path = folder / "vocab.json"
    if vocab_path.is_file():
        try:
            vocabulary = json.loads(vocab_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            vocabulary = None  # the tokenizer's loader names a broken vocab.json
        if isinstance(vocabulary, dict) and all(isinstance(v, int) for v in vocabulary.values()):
            check_alphabet_matches(labels, vocabulary, str(folder / "alphabet.json"))
    return lm_file


def attach_language_model(
    model_dir: str | os.PathLike[str],
    lm_source: str | os.PathLike[str],
    weights: FusionWeights | None = None,
    unigrams: Sequence[str] | None = None,
) -> CTCProcessorWithLanguageModel:
    """Give the fine-tuned model in ``model_dir`` an LM: writes ``alphabet.json`` and ``language_model/``
    and names ``CTCProcessorWithLanguageModel`` as its processor class.

    Args:
        model_dir: a folder with the model's processor (``Wav2Vec2Processor.save_pretrained``).
        lm_source: a ``build-lm`` folder, a ``language_model/`` folder or an LM file.
        weights: fusion weights to store (default: pyctcdecode's defaults, or the source folder's attrs).
        unigrams: the LM's words (default: ``unigrams.txt`` beside the LM file, else its ARPA words).
    """
    from transformers import AutoFeatureExtractor, Wav2Vec2CTCTokenizer

    from wav2vec_hf.decoding.lm_build import find_built_lm

    model_dir = Path(model_dir)
    if not (model_dir / "vocab.json").is_file():
        raise FileNotFoundError(
            f"{model_dir}: no vocab.json; attach the LM to a folder holding the fine-tuned model's processor"
        )
    lm_file, unigrams_file = find_built_lm(lm_source)
    if unigrams is None and unigrams_file is not None:
        unigrams = read_unigrams(unigrams_file)
    if weights is None and (lm_file.parent / "attrs.json").is_file():
        attrs = json.loads((lm_file.parent / "attrs.json").read_text(encoding="utf-8"))
        weights = FusionWeights.from_json(attrs, str(lm_file.parent / "attrs.json"))
    feature_extractor = AutoFeatureExtractor.from_pretrained(str(model_dir))
    tokenizer = Wav2Vec2CTCTokenizer.from_pretrained(str(model_dir))
    lm = NgramLanguageModel.from_file(lm_file, unigrams, weights)
    vocabulary_words = set(lm.unigrams)
    if not vocabulary_words:
        raise DecodingError(f"{lm_file}: the LM has no words the decoder could use")
    labels = labels_from_vocabulary(tokenizer.get_vocab())
    spellable = set("".join(labels))
    unspellable = sorted(w for w in list(vocabulary_words)[:10000] if not set(w) <= spellable)
    if len(unspellable) > 0.5 * min(len(vocabulary_words), 10000):
        raise DecodingError(
            f"{lm_file}: most LM words use characters the model cannot emit (e.g. {unspellable[:5]}); "
            "rebuild the LM with `wav2vec-hf build-lm --vocab MODEL_DIR` so its text follows the model's vocabulary"
        )
    processor = CTCProcessorWithLanguageModel(feature_extractor, tokenizer, CTCBeamSearchDecoder(labels, lm))
    processor.save_pretrained(model_dir)
    return processor


def write_fusion_weights(model_dir: str | os.PathLike[str], **weights) -> FusionWeights:
    """Update ``language_model/attrs.json`` of a processor-with-LM folder in place (tuning results)."""
    folder = Path(model_dir) / LANGUAGE_MODEL_FOLDER
    path = folder / "attrs.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: attach an LM to {model_dir} first (`wav2vec-hf build-lm --attach`)"
        )
    current = json.loads(path.read_text(encoding="utf-8"))
    current.update({k: v for k, v in weights.items() if v is not None})
    updated = FusionWeights.from_json(current, str(path))
    write_attrs(folder, updated)
    return updated


class _NoModelConfig:
    """The key ``CTCProcessorWithLanguageModel`` is registered under in ``AutoProcessor``'s mapping.

    ``AutoProcessor`` finds a processor by the ``processor_class`` name a folder saves, searching its
    registered classes by ``__name__``; registering needs a config class as the key, and none fits
    (the processor serves every CTC model). No model config is ever of this type, so the registration
    changes what ``AutoProcessor`` returns only for folders that name our class.
    """


class _NoModelConfigLegacy(_NoModelConfig):
    """The key of the stand-in for ``Wav2Vec2ProcessorWithLM`` (see ``register_with_auto_processor``)."""


def transformers_ships_legacy_processor() -> bool:
    """Whether the installed transformers still has ``Wav2Vec2ProcessorWithLM`` (read without importing it)."""
    import transformers

    return LEGACY_PROCESSOR_CLASS in dir(transformers)


def register_with_auto_processor() -> None:
    """Let ``AutoProcessor.from_pretrained`` load processor-with-LM folders with this class (idempotent).

    Our folders name ``CTCProcessorWithLanguageModel``. Stock ``*-with-lm`` folders name
    ``Wav2Vec2ProcessorWithLM``: while transformers ships that class they get it, unchanged; once it is
    gone (transformers v6) a subclass of ours under that name loads them, instead of a bare tokenizer.
    """
    from transformers import AutoProcessor

    AutoProcessor.register(_NoModelConfig, CTCProcessorWithLanguageModel, exist_ok=True)
    if not transformers_ships_legacy_processor():
        stand_in = type(
            LEGACY_PROCESSOR_CLASS,
            (CTCProcessorWithLanguageModel,),
            {
                "__module__": __name__,
                "__doc__": "``CTCProcessorWithLanguageModel`` under the name stock ``*-with-lm`` folders save.",
            },
        )
        AutoProcessor.register(_NoModelConfigLegacy, stand_in, exist_ok=True)
