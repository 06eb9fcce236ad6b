"""BERT on vq-wav2vec units: tokenise audio with a trained vq-wav2vec, train a stock ``BertForMaskedLM``.

As in the vq-wav2vec paper (section 4): every 10 ms frame of audio becomes the token ``"i-j"`` (its
codes in the G = 2 groups, ``wav2vec_hf.units``), and BERT learns to fill in masked **spans of 10
consecutive tokens**, each token starting a span with probability 0.05 (about 40% of the tokens end up
masked). A masked token is replaced by ``[MASK]`` (80%), a random unit (10%) or kept (10%), as in BERT.

Steps:

1. ``tokenise_split``: the frozen vq-wav2vec (``model.quantize``, argmax codes) turns every utterance
   into one line of units, written to ``OUTPUT/units/<split>.units`` (fairseq's featurizer format) and
   reused when the same quantiser and audio are asked again (resumed runs).
2. ``build_unit_vocabulary``: special tokens, then the training units by frequency; ``make_tokenizer``
   wraps it as a stock ``PreTrainedTokenizerFast`` (word-level, whitespace split), saved with the model.
3. ``UnitSequenceDataset``: ``[CLS] units [SEP]`` id sequences, long utterances split into pieces of
   at most ``max_units_per_sample`` tokens; batched by total tokens (``LengthBatchSampler``).
4. ``UnitsBertTask.step``: span masking on the device, masked-token cross entropy and accuracy.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import Dataset

from wav2vec_hf.data import LengthBatchSampler
from wav2vec_hf.json_files import write_json
from wav2vec_hf.pretraining.masking import compute_span_mask
from wav2vec_hf.pretraining.tasks import HealthSpec, PretrainingTask, StepOutput, load_config
from wav2vec_hf.units import codes_to_unit_string

logger = logging.getLogger(__name__)

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIAL_TOKENS = (PAD, UNK, CLS, SEP, MASK)
UNITS_FOLDER = "units"


def load_quantizer(folder: str, device: torch.device | str = "cpu"):
    """A trained vq-wav2vec (``save_pretrained`` folder, e.g. our export or a converted fairseq model)."""
    from transformers import AutoModel

    import wav2vec_hf  # noqa: F401  (registers the wav2vec / vq-wav2vec Auto classes)

    path = Path(folder)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"--quantizer {folder}: no config.json; give a trained vq-wav2vec folder.")
    from wav2vec_hf.model_folders import check_model_weights

    check_model_weights(path)
    model = AutoModel.from_pretrained(str(path))
    if getattr(model.config, "vq_type", "none") == "none" or not hasattr(model, "quantize"):
        raise ValueError(f"--quantizer {folder} is not a vq-wav2vec model (it has no quantiser).")
    return model.to(device).eval()


def tokenise_split(quantizer, source, target: Path, *, quantizer_name: str) -> list[str]:
    """Units of every utterance of ``source`` (an ``AudioSet``), one string per utterance.

    Cached in ``target`` (with ``target.with_suffix('.json')`` describing what made it); a cache made
    from the same quantiser folder and the same utterances is read instead of recomputed.
    """
    description = {
        "quantizer": str(Path(quantizer_name).resolve()),
        "utterances": hashlib.sha256("\n".join(r.path for r in source.records).encode()).hexdigest(),
        "count": len(source),
    }
    meta = target.with_suffix(".json")
    if target.is_file() and meta.is_file() and json.loads(meta.read_text()) == description:
        return target.read_text(encoding="utf-8").splitlines()
    device = next(quantizer.parameters()).device
    lines = []
    with torch.no_grad():
        for index in range(len(source)):
            waveform = torch.from_numpy(source.load(index)).to(device)[None]
            lines.append(codes_to_unit_string(quantizer.quantize(waveform)[0].cpu()))
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_text("\n".join(lines) + "\n", encoding="utf-8")
    temporary.replace(target)
    meta.write_text(json.dumps(description))
    return lines


def build_unit_vocabulary(lines: list[str]) -> dict[str, int]:
    """Special tokens (ids 0-4: [PAD] [UNK] [CLS] [SEP] [MASK]), then units by falling frequency."""
    counts = Counter(unit for line in lines for unit in line.split())
    vocabulary = {token: index for index, token in enumerate(SPECIAL_TOKENS)}
    for unit, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        vocabulary[unit] = len(vocabulary)
    return vocabulary


def majority_rate(lines: list[str]) -> float:
    """Fraction of the most frequent unit among all units (the accuracy of a context-free guess)."""
    counts = Counter(unit for line in lines for unit in line.split())
    total = sum(counts.values())
    return max(counts.values()) / total if total else 0.0


def unigram_cross_entropy(train_lines: list[str], test_lines: list[str]) -> float:
    """Cross entropy (nats per unit) of ``test_lines`` under the add-one unigram model of ``train_lines``:
    what a model that ignores context can reach."""
    import math

    counts = Counter(unit for line in train_lines for unit in line.split())
    total, kinds = sum(counts.values()), len(counts) + 1
    units = [unit for line in test_lines for unit in line.split()]
    return -sum(math.log((counts.get(unit, 0) + 1) / (total + kinds)) for unit in units) / max(1, len(units))


def make_tokenizer(vocabulary: dict[str, int]):
    """A stock ``PreTrainedTokenizerFast`` over the units: whitespace split, word level, [CLS] x [SEP]."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel(vocab=dict(vocabulary), unk_token=UNK))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.post_processor = processors.TemplateProcessing(
        single=f"{CLS} $A {SEP}",
        special_tokens=[(CLS, vocabulary[CLS]), (SEP, vocabulary[SEP])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token=PAD,
        unk_token=UNK,
        cls_token=CLS,
        sep_token=SEP,
        mask_token=MASK,
        model_input_names=["input_ids", "attention_mask"],
    )


class UnitSequenceDataset(Dataset):
    """``[CLS] units [SEP]`` id sequences; utterances longer than ``max_tokens - 2`` units are split.

    Examples: ``{"input_ids": int64 (length,), "id": str, "index": int}``.
    """

    def __init__(self, lines: list[str], vocabulary: dict[str, int], max_tokens: int) -> None:
        if max_tokens < 3:
            raise ValueError(f"max_units_per_sample must be at least 3, got {max_tokens}")
        unknown = vocabulary[UNK]
        self.sequences: list[torch.Tensor] = []
        self.names: list[str] = []
        piece = max_tokens - 2
        for line_number, line in enumerate(lines):
            ids = [vocabulary.get(unit, unknown) for unit in line.split()]
            for start in range(0, len(ids), piece):
                chunk = [vocabulary[CLS], *ids[start : start + piece], vocabulary[SEP]]
                self.sequences.append(torch.tensor(chunk, dtype=torch.long))
                self.names.append(f"utterance-{line_number}-{start // piece}")
        if not self.sequences:
            raise ValueError("no unit sequences: the audio gave no frames.")

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        from wav2vec_hf.data.datasets import select_epoch

        index = select_epoch(self, key)
        return {"input_ids": self.sequences[index], "id": self.names[index], "index": index}

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(s) for s in self.sequences], dtype=np.int64)

    def set_epoch(self, epoch: int) -> None:
        """Nothing depends on the epoch (masks are drawn on the device)."""


class UnitCollator:
    """Pads id sequences with [PAD]: ``{"input_ids", "attention_mask", "lengths", "ids", "skipped"}``."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, examples: list[dict]) -> dict:
        lengths = torch.tensor([len(e["input_ids"]) for e in examples], dtype=torch.long)
        width = int(lengths.max())
        ids = torch.full((len(examples), width), self.pad_id, dtype=torch.long)
        for row, example in enumerate(examples):
            ids[row, : len(example["input_ids"])] = example["input_ids"]
        return {
            "input_ids": ids,
            "attention_mask": (torch.arange(width)[None, :] < lengths[:, None]).long(),
            "lengths": lengths,
            "ids": [e["id"] for e in examples],
            "skipped": [],
        }


def mask_unit_spans(
    input_ids: torch.Tensor,
    lengths: torch.Tensor,
    *,
    mask_length: int,
    start_prob: float,
    mask_id: int,
    first_unit_id: int,
    vocab_size: int,
    replace_probs: tuple[float, float] = (0.8, 0.1),
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask spans of unit tokens for BERT (on the device, no host sync).

    Args:
        input_ids: (batch, T) ``[CLS] units [SEP] [PAD]...``.
        lengths: (batch,) tokens per row including [CLS] and [SEP].
        mask_length: span length (10).
        start_prob: probability that a unit starts a span (0.05).
        mask_id, first_unit_id, vocab_size: ``[MASK]``, the first non-special id, the vocabulary size.
        replace_probs: (to [MASK], to a random unit); the rest keep their token.

    Returns:
        ``(masked_ids, labels)``, both (batch, T); labels are -100 where nothing is predicted.
    """
    batch, width = input_ids.shape
    units = (lengths - 2).clamp(min=0)
    # compute_span_mask's mask_prob is (span starts per frame) x (span length).
    spans = compute_span_mask(units, max(width - 2, 1), start_prob * mask_length, mask_length, min_masks=1)
    mask = torch.zeros_like(input_ids, dtype=torch.bool)
    mask[:, 1 : 1 + spans.shape[1]] = spans[:, : width - 1]
    labels = torch.where(mask, input_ids, torch.full_like(input_ids, -100))
    draw = torch.rand(batch, width, device=input_ids.device)
    to_mask = mask & (draw < replace_probs[0])
    to_random = mask & (draw >= replace_probs[0]) & (draw < replace_probs[0] + replace_probs[1])
    random_units = torch.randint(
        first_unit_id, max(vocab_size, first_unit_id + 1), input_ids.shape, device=input_ids.device
    )
    masked = torch.where(to_mask, torch.full_like(input_ids, mask_id), input_ids)
    masked = torch.where(to_random, random_units, masked)
    return masked, labels


class UnitsBertTask(PretrainingTask):
    """BERT over vq-wav2vec units (see the module docstring)."""

    model_type = "units-bert"

    def __init__(self, config, accelerator=None) -> None:
        super().__init__(config, accelerator)
        self.units_dir = Path(config.training.output_dir) / UNITS_FOLDER
        self.tokens_per_second = 100.0  # replaced by the quantiser's frame rate

    # --- units -------------------------------------------------------------------------------

    def _tokenise(self) -> dict[str, list[str]]:
        """Units of the train / valid audio (computed by the main process, read by the others)."""
        from wav2vec_hf.pretraining.data import open_audio

        model_args, data_args = self.config.model, self.config.data
        if self.accelerator is not None:
            context = self.accelerator.main_process_first()
        else:
            import contextlib

            context = contextlib.nullcontext()
        device = self.accelerator.device if self.accelerator is not None else "cpu"
        quantizer = load_quantizer(model_args.quantizer, device)
        self.quantizer_frame_rate = float(quantizer.config.frames_per_second)
        self.tokens_per_second = self.quantizer_frame_rate
        minimum = quantizer.config.receptive_field
        lines = {}
        self.reports = []
        with context:
            for split, path, name_split in (
                ("train", data_args.train, data_args.train_split),
                ("valid", data_args.valid, data_args.valid_split),
            ):
                if not path:
                    continue
                source, reports = open_audio(
                    path, split=name_split, min_samples=minimum, on_bad=data_args.on_bad, name=split
                )
                self.reports.extend(reports)
                lines[split] = tokenise_split(
                    quantizer, source, self.units_dir / f"{split}.units", quantizer_name=model_args.quantizer
                )
        del quantizer
        return lines

    def build_module(self):
        from transformers import BertConfig, BertForMaskedLM, PreTrainedTokenizerFast

        model_args = self.config.model
        self.lines = self._tokenise() if model_args.quantizer else {}
        if model_args.init_from:
            self.tokenizer = PreTrainedTokenizerFast.from_pretrained(model_args.init_from)
            model = BertForMaskedLM.from_pretrained(
                model_args.init_from, attn_implementation=model_args.attn_implementation
            )
        else:
            if "train" not in self.lines:
                raise ValueError(
                    "units-bert needs --train audio (and --quantizer) to build its unit vocabulary."
                )
            self.tokenizer = make_tokenizer(build_unit_vocabulary(self.lines["train"]))
            bert_config = load_config(self.config, (BertConfig,))
            bert_config.vocab_size = len(self.tokenizer)
            bert_config.pad_token_id = self.tokenizer.pad_token_id
            bert_config.max_position_embeddings = max(
                bert_config.max_position_embeddings, self.recipe.max_units_per_sample
            )
            bert_config._attn_implementation = model_args.attn_implementation
            model = BertForMaskedLM(bert_config)
        self.vocabulary = self.tokenizer.get_vocab()
        self.first_unit_id = len(SPECIAL_TOKENS)
        self.model_config = model.config
        return model

    def min_input_samples(self) -> int:
        return 3

    def health_spec(self) -> HealthSpec:
        """Chance: a uniform guess among the units. (Units are far from uniform, silence alone can be
        most of them: ``majority_rate`` and ``unigram_cross_entropy`` give the context-free levels.)"""
        return HealthSpec(chance_accuracy=1.0 / max(1, len(self.vocabulary) - len(SPECIAL_TOKENS)))

    # --- data --------------------------------------------------------------------------------

    def build_data(self):
        from wav2vec_hf.pretraining.data import AudioData

        def split_data(lines: list[str], training: bool) -> AudioData:
            dataset = UnitSequenceDataset(lines, self.vocabulary, self.recipe.max_units_per_sample)
            sampler = LengthBatchSampler(
                dataset.lengths,
                max(self.recipe.max_batch_samples, int(dataset.lengths.max())),
                max_batch_size=self.recipe.max_batch_size,
                num_buckets=self.config.data.num_buckets,
                shuffle=training,
                seed=self.config.training.seed,
                num_replicas=self.num_replicas,
                rank=self.rank,
            )
            return AudioData(
                dataset=dataset,
                sampler=sampler,
                collator=UnitCollator(self.vocabulary[PAD]),
                reports=list(self.reports) if training else [],
                num_utterances=len(lines),
            )

        train = split_data(self.lines["train"], True)
        valid = split_data(self.lines["valid"], False) if "valid" in self.lines else None
        return train, valid

    def to_device(self, batch: dict, device: torch.device) -> tuple[dict, float]:
        inputs = {
            "input_ids": batch["input_ids"].to(device, non_blocking=True),
            "attention_mask": batch["attention_mask"].to(device, non_blocking=True),
            "lengths": batch["lengths"].to(device, non_blocking=True),
        }
        return inputs, float((batch["lengths"] - 2).clamp(min=0).sum())

    # --- training ----------------------------------------------------------------------------

    def step(self, module, batch: dict) -> StepOutput:
        masked, labels = mask_unit_spans(
            batch["input_ids"],
            batch["lengths"],
            mask_length=self.recipe.unit_mask_length,
            start_prob=self.recipe.unit_mask_start_prob,
            mask_id=self.vocabulary[MASK],
            first_unit_id=self.first_unit_id,
            vocab_size=len(self.vocabulary),
        )
        logits = module(input_ids=masked, attention_mask=batch["attention_mask"]).logits  # (B, T, V)
        targets = labels.view(-1)
        predicted = targets != -100
        count = predicted.sum().clamp(min=1).float()
        # Summed and divided by the masked count ourselves: a batch without masked tokens gives 0, not NaN.
        loss = (
            F.cross_entropy(
                logits.view(-1, logits.shape[-1]).float(), targets, ignore_index=-100, reduction="sum"
            )
            / count
        )
        correct = (logits.argmax(-1).view(-1) == targets) & predicted
        return StepOutput(
            loss=loss,
            metrics={
                "loss": loss.detach(),
                "accuracy": correct.sum().float() / count,
                "masked_fraction": predicted.sum().float()
                / (batch["lengths"] - 2).clamp(min=1).sum().float(),
            },
            weight=predicted.sum().float(),
        )

    def export(self, module, directory: Path, state_dict: dict | None = None) -> None:
        module.save_pretrained(directory, state_dict=state_dict)
        self.tokenizer.save_pretrained(directory)
        info = {
            "quantizer": str(Path(self.config.model.quantizer).resolve())
            if self.config.model.quantizer
            else None,
            "units_per_second": self.tokens_per_second,
            "mask_length": self.recipe.unit_mask_length,
            "mask_start_prob": self.recipe.unit_mask_start_prob,
            "num_units": len(self.vocabulary) - len(SPECIAL_TOKENS),
        }
        write_json(Path(directory) / "units_bert.json", info)


__all__ = [
    "SPECIAL_TOKENS",
    "UnitCollator",
    "UnitSequenceDataset",
    "UnitsBertTask",
    "build_unit_vocabulary",
    "load_quantizer",
    "majority_rate",
    "make_tokenizer",
    "mask_unit_spans",
    "tokenise_split",
    "unigram_cross_entropy",
]
