"""A small causal Transformer LM for n-best rescoring: train it from text, score sentences with it.

``train_lm`` builds a tokenizer locally (no Hub download) and trains a tiny ``GPT2LMHeadModel`` with
transformers' ``Trainer``; the output folder is a normal ``AutoModelForCausalLM`` + ``AutoTokenizer``
folder. ``CausalLMScorer`` scores sentences with any such folder (ours or another causal LM).

Tokenizers: ``"char"`` (every character, the space included, is a token) or ``"word"`` (words split
on spaces; words seen fewer than ``min_word_count`` times become ``<unk>``). Both are ``tokenizers``
``WordLevel`` models wrapped as transformers' fast tokenizer, with ``<s>``, ``</s>``, ``<pad>`` and
``<unk>``. Text is normalised like the n-gram LM's (``PROJECT_NORMALIZER``: UPPERCASE words), so
hypotheses of a CTC model with the project's vocabulary are scored in the form the LM was trained on.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from wav2vec_hf.json_files import write_json

BOS, EOS, PAD, UNK = "<s>", "</s>", "<pad>", "<unk>"
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK)
TRAINING_FILE = "train_lm.json"
LEVELS = ("char", "word")


@dataclass
class NeuralLMConfig:
    """Settings of ``train_lm`` (a GPT-2-style model; defaults: ~0.1M parameters, CPU-friendly).

    Attributes:
        level: ``"char"`` or ``"word"`` tokens.
        n_layer, n_head, n_embd: Transformer depth, heads, width.
        n_positions: longest sequence in tokens (``<s>`` and ``</s>`` included); longer lines are cut.
        max_steps: optimiser updates. batch_size: sentences per update. learning_rate: AdamW peak rate
            (linear decay after 5% warm-up).
        dropout: residual / embedding / attention dropout.
        min_word_count: word level only: rarer words map to ``<unk>``.
        validation_fraction: share of the lines held out to report perplexity (0 = none).
        seed: initialisation and data order.
    """

    level: str = "char"
    n_layer: int = 2
    n_head: int = 2
    n_embd: int = 64
    n_positions: int = 256
    max_steps: int = 300
    batch_size: int = 32
    learning_rate: float = 3e-3
    dropout: float = 0.1
    min_word_count: int = 1
    validation_fraction: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"level={self.level!r}: use one of {LEVELS}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} must be a multiple of n_head={self.n_head}")
        if self.max_steps < 1 or self.batch_size < 1:
            raise ValueError("max_steps and batch_size must be at least 1")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError(f"validation_fraction={self.validation_fraction}: give a value in [0, 1)")


@dataclass
class TrainedLM:
    """What ``train_lm`` produced.

    Attributes:
        out_dir: the model + tokenizer folder.
        parameters: trainable parameters.
        vocab_size: tokens (special tokens included).
        train_sentences, validation_sentences: lines used.
        validation_perplexity: per-token perplexity on the held-out lines (``None`` without them).
        seconds: wall time.
    """

    out_dir: Path
    parameters: int
    vocab_size: int
    train_sentences: int
    validation_sentences: int
    validation_perplexity: float | None
    seconds: float
    config: NeuralLMConfig = field(default_factory=NeuralLMConfig)


def read_sentences(text_files: Sequence[str | os.PathLike[str]]) -> list[str]:
    """Non-empty lines of ``text_files``, normalised like the n-gram LM text (``PROJECT_NORMALIZER``: UPPERCASE words)."""
    from wav2vec_hf.data.normalization import PROJECT_NORMALIZER
    from wav2vec_hf.decoding.lm_build import read_lines

    return list(PROJECT_NORMALIZER.sentences(read_lines(text_files)))


def build_tokenizer(sentences: Sequence[str], level: str = "char", min_word_count: int = 1):
    """A fast tokenizer (``PreTrainedTokenizerFast``) over the characters or words of ``sentences``.

    Token ids: ``<pad>`` 0, ``<s>`` 1, ``</s>`` 2, ``<unk>`` 3, then the units by decreasing count.
    """
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    if level not in LEVELS:
        raise ValueError(f"level={level!r}: use one of {LEVELS}")
    counts: Counter[str] = Counter()
    for sentence in sentences:
        counts.update(sentence if level == "char" else sentence.split())
    units = [
        u for u, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])) if n >= min_word_count
    ]
    if not units:
        raise ValueError("the LM text has no tokens to build a vocabulary from")
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    for unit in units:
        vocab.setdefault(unit, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    if level == "char":
        backend.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    else:
        backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token=BOS, eos_token=EOS, pad_token=PAD, unk_token=UNK
    )


class _SentenceDataset:
    """Token ids ``[<s>, ..., </s>]`` per sentence (cut to ``max_length``), for ``Trainer``."""

    def __init__(self, sentences: Sequence[str], tokenizer, max_length: int) -> None:
        self.items = [
            (
                [tokenizer.bos_token_id]
                + tokenizer(s, add_special_tokens=False)["input_ids"]
                + [tokenizer.eos_token_id]
            )[:max_length]
            for s in sentences
        ]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        return {"input_ids": self.items[index]}


class _PadCollator:
    """Right-pads ``input_ids``; labels are the ids with -100 on padding (GPT-2 shifts them itself)."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, features: list[dict]) -> dict:
        import torch

        width = max(len(f["input_ids"]) for f in features)
        ids = torch.full((len(features), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(features), width), dtype=torch.long)
        for row, f in enumerate(features):
            ids[row, : len(f["input_ids"])] = torch.tensor(f["input_ids"])
            mask[row, : len(f["input_ids"])] = 1
        return {"input_ids": ids, "attention_mask": mask, "labels": ids.masked_fill(mask == 0, -100)}


def train_lm(
    text_files: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    config: NeuralLMConfig | None = None,
) -> TrainedLM:
    """Train a small causal Transformer LM on ``text_files`` (one sentence a line) into ``out_dir``.

    The folder holds ``config.json``, the weights, the tokenizer files and ``train_lm.json`` (settings,
    sizes, held-out perplexity, seconds); ``AutoModelForCausalLM`` / ``AutoTokenizer`` load it.
    """
    import numpy as np  # here, not at the top: `wav2vec-hf train-lm --help` reads this module's defaults
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments, set_seed

    config = config or NeuralLMConfig()
    started = time.perf_counter()
    sentences = read_sentences(text_files)
    if not sentences:
        raise ValueError(f"{[str(p) for p in text_files]}: no sentences to train the LM on")
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(sentences))
    held = round(config.validation_fraction * len(sentences))
    held = min(held, len(sentences) - 1)
    validation = [sentences[i] for i in order[:held]]
    train = [sentences[i] for i in order[held:]]

    tokenizer = build_tokenizer(train, config.level, config.min_word_count)
    set_seed(config.seed)
    model = GPT2LMHeadModel(
        GPT2Config(
            vocab_size=len(tokenizer),
            n_positions=config.n_positions,
            n_embd=config.n_embd,
            n_layer=config.n_layer,
            n_head=config.n_head,
            resid_pdrop=config.dropout,
            embd_pdrop=config.dropout,
            attn_pdrop=config.dropout,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    args = TrainingArguments(
        output_dir=str(out / "trainer"),
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        warmup_steps=max(1, config.max_steps // 20),
        lr_scheduler_type="linear",
        weight_decay=0.01,
        logging_steps=max(1, config.max_steps // 5),
        save_strategy="no",
        report_to="none",
        seed=config.seed,
        disable_tqdm=True,
        dataloader_pin_memory=False,
        use_cpu=not torch.cuda.is_available(),
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=_SentenceDataset(train, tokenizer, config.n_positions),
        data_collator=_PadCollator(tokenizer.pad_token_id),
    )
    trainer.train()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    shutil.rmtree(out / "trainer", ignore_errors=True)  # Trainer's scratch folder (no checkpoints saved)

    perplexity = None
    if validation:
        scorer = CausalLMScorer(model.eval(), tokenizer)
        total = sum(scorer.score(validation))
        tokens = sum(len(scorer.token_ids(s)) + 1 for s in validation)
        perplexity = math.exp(-total / max(tokens, 1))
    result = TrainedLM(
        out_dir=out,
        parameters=sum(p.numel() for p in model.parameters()),
        vocab_size=len(tokenizer),
        train_sentences=len(train),
        validation_sentences=len(validation),
        validation_perplexity=perplexity,
        seconds=time.perf_counter() - started,
        config=config,
    )
    report = {**asdict(result), "out_dir": str(out), "text_files": [str(p) for p in text_files]}
    write_json(out / TRAINING_FILE, report)
    return result


class CausalLMScorer:
    """Natural-log probabilities of whole sentences under a causal LM.

    ``score(s) = sum_i ln p(t_i | <s>, t_<i) + ln p(</s> | <s>, t)`` over the tokens ``t`` of ``s``.
    A tokenizer without a BOS token starts from its EOS token (GPT-2's convention); without either,
    the first token is scored from nothing (it gets no probability term) and no end term is added.

    Args:
        model: an ``AutoModelForCausalLM`` (eval mode).
        tokenizer: its tokenizer.
        batch_size: sentences per forward pass.
    """

    def __init__(self, model, tokenizer, batch_size: int = 64) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = int(batch_size)
        self.start_id = (
            tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        )
        self.end_id = tokenizer.eos_token_id
        self.max_length = int(
            getattr(model.config, "n_positions", None)
            or getattr(model.config, "max_position_embeddings", 1024)
        )

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike[str], batch_size: int = 64) -> CausalLMScorer:
        """Load any ``AutoModelForCausalLM`` folder with its tokenizer (local files only)."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        folder = Path(folder)
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(
                f"{folder}: no config.json; give a causal LM folder (scripts/train_lm.py writes one)"
            )
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        model = AutoModelForCausalLM.from_pretrained(str(folder)).eval()
        return cls(model, tokenizer, batch_size)

    def token_ids(self, sentence: str) -> list[int]:
        """The sentence's token ids, without special tokens."""
        return list(self.tokenizer(sentence, add_special_tokens=False)["input_ids"])

    def score(self, sentences: Sequence[str]) -> list[float]:
        """Natural-log probability of each sentence (one float each; '' scores its end token only)."""
        import torch

        rows: list[list[int]] = []
        for sentence in sentences:
            ids = self.token_ids(sentence)
            row = ([self.start_id] if self.start_id is not None else []) + ids
            row += [self.end_id] if self.end_id is not None else []
            rows.append(row[: self.max_length])
        scores: list[float] = []
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        with torch.inference_mode():
            for start in range(0, len(rows), self.batch_size):
                batch = rows[start : start + self.batch_size]
                width = max(len(r) for r in batch)
                ids = torch.full((len(batch), width), pad, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for i, r in enumerate(batch):
                    ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
                    mask[i, : len(r)] = 1
                if width < 2:
                    scores.extend(0.0 for _ in batch)
                    continue
                logits = self.model(input_ids=ids, attention_mask=mask).logits.float()  # (B, L, V)
                log_probs = torch.log_softmax(logits[:, :-1], dim=-1)
                targets = ids[:, 1:]
                picked = log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (B, L-1)
                picked = picked * mask[:, 1:]
                scores.extend(float(x) for x in picked.sum(-1))
        return scores


__all__ = ["CausalLMScorer", "NeuralLMConfig", "TrainedLM", "build_tokenizer", "read_sentences", "train_lm"]
