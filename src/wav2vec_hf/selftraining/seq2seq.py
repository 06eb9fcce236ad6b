"""Stage 5, option (b): the paper's final model, a sequence-to-sequence Transformer on log-Mel filterbanks.

Built from stock transformers classes, so the folder loads without this package:

* word pieces: a sentencepiece unigram model trained on the training transcripts, saved as a stock
  ``Speech2TextTokenizer`` (``vocab.json`` + ``sentencepiece.bpe.model``; ids 0-3 are ``<s>``,
  ``<pad>``, ``</s>``, ``<unk>`` as in fairseq dictionaries);
* features: ``Speech2TextFeatureExtractor``, 80 log-Mel filterbanks with per-utterance mean and
  variance normalisation; ``Speech2TextProcessor`` bundles both;
* model: ``Speech2TextForConditionalGeneration`` (two stride-2 convolutions, then a Transformer
  encoder-decoder), trained from random weights with ``Seq2SeqTrainer`` and label smoothing;
* decoding: beam search (``generate``).

``train_seq2seq`` trains and saves one; ``load_seq2seq`` loads it and ``transcribe_set`` decodes a
data set with it (``transcribe_seq2seq``: both, for one set).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from wav2vec_hf.extras import require_extra
from wav2vec_hf.json_files import write_json

logger = logging.getLogger(__name__)

SAMPLING_RATE = 16000
SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>")
SPM_FILE = "sentencepiece.bpe.model"
RUN_FILE = "seq2seq.json"


@dataclass
class Seq2SeqOptions:
    """Size and training budget of the sequence-to-sequence model (defaults: a CPU-sized one).

    Attributes:
        vocab_size: word pieces, at most (fewer when the text has fewer distinct pieces). The paper: 10k.
        d_model, encoder_layers, decoder_layers, attention_heads, ffn_dim, conv_channels: the model.
        dropout: dropout of the Transformer layers.
        max_steps, batch_size, learning_rate, warmup_steps, label_smoothing: the training.
        num_beams: beam width of decoding.
        seed: initial weights and batch order.
    """

    vocab_size: int = 64
    d_model: int = 144
    encoder_layers: int = 4
    decoder_layers: int = 2
    attention_heads: int = 4
    ffn_dim: int = 576
    conv_channels: int = 256
    dropout: float = 0.1
    max_steps: int = 1500
    batch_size: int = 32
    learning_rate: float = 1e-3
    warmup_steps: int = 150
    label_smoothing: float = 0.1
    num_beams: int = 5
    seed: int = 0


def train_wordpieces(texts: list[str], folder: str | os.PathLike[str], vocab_size: int):
    """A ``Speech2TextTokenizer`` over a sentencepiece unigram model of ``texts``, saved in ``folder``.

    Raises:
        ValueError: no text.
    """
    spm = require_extra("sentencepiece", "seq2seq", "the seq2seq final model's word pieces")
    from transformers import Speech2TextTokenizer

    lines = [" ".join(text.split()) for text in texts if text and text.strip()]
    if not lines:
        raise ValueError("word pieces: no training transcript to learn them from")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    corpus = folder / "wordpiece_text.txt"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # hard_vocab_limit=False lets sentencepiece stop at the pieces the text supports when fewer than
    # asked; fewer than every character + the word-boundary mark + <unk> it refuses, hence the floor.
    size = max(len(set("".join(lines).replace(" ", ""))) + 2, vocab_size)
    spm.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(folder / "sentencepiece"),
        vocab_size=size,
        model_type="unigram",
        character_coverage=1.0,
        hard_vocab_limit=False,
        bos_id=-1,
        eos_id=-1,
        unk_id=0,
        minloglevel=2,
    )
    (folder / "sentencepiece.model").replace(folder / SPM_FILE)
    (folder / "sentencepiece.vocab").unlink(missing_ok=True)
    corpus.unlink()
    processor = spm.SentencePieceProcessor(model_file=str(folder / SPM_FILE))
    pieces = [
        processor.id_to_piece(i) for i in range(processor.get_piece_size()) if not processor.is_unknown(i)
    ]
    vocabulary = {token: index for index, token in enumerate([*SPECIAL_TOKENS, *pieces])}
    (folder / "vocab.json").write_text(json.dumps(vocabulary, ensure_ascii=False, indent=1), encoding="utf-8")
    return Speech2TextTokenizer(vocab_file=str(folder / "vocab.json"), spm_file=str(folder / SPM_FILE))


def _labelled_waves(data: str, normalizer) -> tuple[list[np.ndarray], list[str], list[str]]:
    """Every labelled utterance of ``data`` at 16 kHz: ``(waves, normalised transcripts, paths)``."""
    from wav2vec_hf.data import open_audio_source

    source = open_audio_source(data)
    waves, texts, paths = [], [], []
    for index, record in enumerate(source.records):
        if not record.transcript:
            continue
        waves.append(source.load(index, target_rate=SAMPLING_RATE))
        texts.append(normalizer(record.transcript))
        paths.append(str(record.path))
    if not waves:
        raise ValueError(f"{data}: no utterance has a transcript; the seq2seq model needs labelled data")
    return waves, texts, paths


def _filterbanks(extractor, waves: list[np.ndarray]) -> list[np.ndarray]:
    """``(frames, 80)`` normalised log-Mel filterbanks of each wave (computed once, not per batch)."""
    return [extractor(wave, sampling_rate=SAMPLING_RATE)["input_features"][0] for wave in waves]


class _Collator:
    """Batches of ``{"features", "text"}``: padded filterbanks with their mask, label ids (padding =
    -100, ignored by the loss) and the decoder inputs (labels shifted right after ``</s>``, the decoder
    start token, as in fairseq; the Trainer's label smoothing takes the labels away from the model,
    so the model cannot derive them itself)."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer

    def __call__(self, examples: list[dict]) -> dict:
        import torch

        features, mask = _pad_features([example["features"] for example in examples])
        ids = [self.tokenizer(example["text"]).input_ids for example in examples]
        labels = torch.full((len(ids), max(map(len, ids))), -100, dtype=torch.long)
        for row, sequence in enumerate(ids):
            labels[row, : len(sequence)] = torch.tensor(sequence)
        decoder_input_ids = torch.full_like(labels, self.tokenizer.pad_token_id)
        decoder_input_ids[:, 0] = self.tokenizer.eos_token_id
        decoder_input_ids[:, 1:] = labels[:, :-1].masked_fill(
            labels[:, :-1] == -100, self.tokenizer.pad_token_id
        )
        return {
            "input_features": features,
            "attention_mask": mask,
            "decoder_input_ids": decoder_input_ids,
            "labels": labels,
        }


def _pad_features(features: list[np.ndarray]):
    """``(batch, frames, 80)`` zero-padded features and their ``(batch, frames)`` mask."""
    import torch

    longest = max(len(f) for f in features)
    padded = torch.zeros(len(features), longest, features[0].shape[1])
    mask = torch.zeros(len(features), longest, dtype=torch.long)
    for row, f in enumerate(features):
        padded[row, : len(f)] = torch.from_numpy(np.asarray(f, dtype=np.float32))
        mask[row, : len(f)] = 1
    return padded, mask


def _model(tokenizer, options: Seq2SeqOptions):
    from transformers import Speech2TextConfig, Speech2TextForConditionalGeneration

    config = Speech2TextConfig(
        vocab_size=len(tokenizer),
        d_model=options.d_model,
        encoder_layers=options.encoder_layers,
        decoder_layers=options.decoder_layers,
        encoder_attention_heads=options.attention_heads,
        decoder_attention_heads=options.attention_heads,
        encoder_ffn_dim=options.ffn_dim,
        decoder_ffn_dim=options.ffn_dim,
        conv_channels=options.conv_channels,
        conv_kernel_sizes=(5, 5),
        input_feat_per_channel=80,
        input_channels=1,
        dropout=options.dropout,
        max_source_positions=3000,
        max_target_positions=256,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.eos_token_id,
    )
    model = Speech2TextForConditionalGeneration(config)
    model.generation_config.num_beams = options.num_beams
    model.generation_config.max_length = 200
    return model


def train_seq2seq(
    train: str,
    output_dir: str | os.PathLike[str],
    options: Seq2SeqOptions | None = None,
    *,
    resume: bool = True,
) -> dict:
    """Train the sequence-to-sequence model on the labelled utterances of ``train`` and save it.

    Args:
        train: labelled data (anything ``open_audio_source`` reads; labelled + pseudo-labelled in
            self-training). Transcripts are normalised like the CTC recipe (upper case, no punctuation).
        output_dir: the model folder (model, processor, ``seq2seq.json``); checkpoints go in it too.
        options: model size and budget.
        resume: continue from the newest complete ``checkpoint-*`` in ``output_dir`` if there is one.

    Returns:
        ``{"model", "utterances", "vocabulary", "parameters", "train_loss", "seconds"}``.
    """
    import torch
    from transformers import (
        Seq2SeqTrainer,
        Seq2SeqTrainingArguments,
        Speech2TextFeatureExtractor,
        Speech2TextProcessor,
        set_seed,
    )

    from wav2vec_hf.data.normalization import TextNormalizer
    from wav2vec_hf.finetuning.checkpoints import resolve_resume_checkpoint

    options = options or Seq2SeqOptions()
    started = time.perf_counter()
    output_dir = Path(output_dir)
    set_seed(options.seed)
    waves, texts, _ = _labelled_waves(train, TextNormalizer())
    tokenizer = train_wordpieces(texts, output_dir / "tokenizer", options.vocab_size)
    extractor = Speech2TextFeatureExtractor(feature_size=80, num_mel_bins=80, sampling_rate=SAMPLING_RATE)
    processor = Speech2TextProcessor(feature_extractor=extractor, tokenizer=tokenizer)
    model = _model(tokenizer, options)
    arguments = Seq2SeqTrainingArguments(
        output_dir=str(output_dir),
        max_steps=options.max_steps,
        per_device_train_batch_size=options.batch_size,
        learning_rate=options.learning_rate,
        warmup_steps=options.warmup_steps,
        lr_scheduler_type="linear",
        label_smoothing_factor=options.label_smoothing,
        max_grad_norm=5.0,
        eval_strategy="no",
        save_strategy="steps",
        save_steps=max(1, options.max_steps // 4),
        save_total_limit=1,
        logging_steps=50,
        report_to="none",
        seed=options.seed,
        remove_unused_columns=False,
        disable_tqdm=True,
        dataloader_pin_memory=torch.cuda.is_available(),  # pinning is for host-to-GPU copies only
    )
    features = _filterbanks(extractor, waves)
    dataset = [{"features": f, "text": text} for f, text in zip(features, texts)]
    trainer = Seq2SeqTrainer(
        model=model, args=arguments, train_dataset=dataset, data_collator=_Collator(tokenizer)
    )
    checkpoint = resolve_resume_checkpoint(output_dir, "last") if resume else None
    output = trainer.train(resume_from_checkpoint=checkpoint)
    trainer.save_model(str(output_dir))
    processor.save_pretrained(str(output_dir))
    summary = {
        "model": str(output_dir),
        "utterances": len(dataset),
        "vocabulary": len(tokenizer),
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_loss": output.training_loss,
        "options": asdict(options),
        "seconds": time.perf_counter() - started,
    }
    write_json(output_dir / RUN_FILE, summary)
    logger.info("seq2seq model in %s: %s", output_dir, {k: summary[k] for k in ("utterances", "train_loss")})
    return summary


def load_seq2seq(model_dir: str | os.PathLike[str]):
    """``(model, processor)`` of a saved sequence-to-sequence folder: a ``Speech2TextForConditionalGeneration``
    in eval mode and its ``Speech2TextProcessor``."""
    from transformers import Speech2TextForConditionalGeneration, Speech2TextProcessor

    processor = Speech2TextProcessor.from_pretrained(str(model_dir))
    model = Speech2TextForConditionalGeneration.from_pretrained(str(model_dir)).eval()
    return model, processor


def transcribe_set(
    model, processor, data: str, *, num_beams: int | None = None, batch_size: int = 16
) -> tuple[list[str], list[str]]:
    """Beam-search transcripts of every labelled utterance of ``data`` by a loaded model (``load_seq2seq``).

    Utterances are batched by length (``batch_size`` at a time, ``(batch, frames, 80)`` padded
    filterbanks with their mask). Returns ``(hypotheses, references)``, both normalised like the
    training transcripts, in the order of ``data``.
    """
    import torch

    from wav2vec_hf.data.normalization import TextNormalizer

    normalizer = TextNormalizer()
    waves, references, _ = _labelled_waves(data, normalizer)
    features = _filterbanks(processor.feature_extractor, waves)
    order = sorted(range(len(waves)), key=lambda i: len(features[i]))
    hypotheses: dict[int, str] = {}
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            padded, mask = _pad_features([features[i] for i in batch])
            generated = model.generate(
                padded, attention_mask=mask, num_beams=num_beams or model.generation_config.num_beams
            )
            for i, text in zip(batch, processor.batch_decode(generated, skip_special_tokens=True)):
                hypotheses[i] = normalizer(text)
    return [hypotheses[i] for i in range(len(waves))], references


def transcribe_seq2seq(
    model_dir: str | os.PathLike[str], data: str, *, num_beams: int | None = None, batch_size: int = 16
) -> tuple[list[str], list[str]]:
    """Load the model of ``model_dir`` and transcribe one set (``transcribe_set``): ``(hypotheses, references)``."""
    model, processor = load_seq2seq(model_dir)
    return transcribe_set(model, processor, data, num_beams=num_beams, batch_size=batch_size)


__all__ = [
    "RUN_FILE",
    "Seq2SeqOptions",
    "load_seq2seq",
    "train_seq2seq",
    "train_wordpieces",
    "transcribe_seq2seq",
    "transcribe_set",
]
