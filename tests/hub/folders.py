"""Tiny model folders of every publishable kind, with the run records the other modules write.

Each builder writes a real ``save_pretrained`` folder (a few ten thousand parameters) so that the
cards, plans and uploads are tested on what the training code produces, plus the records.
"""

from __future__ import annotations

import dataclasses
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import soundfile as sf

from wav2vec_hf.pretraining.health import HealthSummary
from wav2vec_hf.selftraining.run_record import SelfTrainingRecord

VOCAB = {"<pad>": 0, "<unk>": 1, "|": 2, "A": 3, "B": 4, "C": 5}
UNIT_TOKENS = [f"{i}-{j}" for i in range(4) for j in range(4)]
KINDS = ("wav2vec", "vq-wav2vec", "units-bert", "wav2vec2", "ctc", "ctc-remote", "ctc-lm")

# A 2-gram ARPA model over the words of VOCAB's letters.
ARPA = """
\\data\\
ngram 1=5
ngram 2=3

\\1-grams:
-1.0\t<unk>\t0
-99\t<s>\t-0.3
-0.6\t</s>\t0
-0.4\tAB\t-0.2
-0.6\tCAB\t-0.2

\\2-grams:
-0.2\t<s> AB
-0.3\tAB CAB
-0.3\tCAB </s>

\\end\\
"""


def write_json(path: Path, content) -> None:
    path.write_text(json.dumps(content, indent=2), encoding="utf-8")


def tiny_png() -> bytes:
    """A valid 1x1 grey PNG (a stand-in for the pretraining curves)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\x80"))
        + chunk(b"IEND", b"")
    )


def write_speech(path: Path, seconds: float = 1.0) -> Path:
    """Noise at 16 kHz (the snippets only need audio of the right shape)."""
    rng = np.random.default_rng(0)
    sf.write(path, (0.1 * rng.standard_normal(int(16000 * seconds))).astype("float32"), 16000)
    return path


def _feature_extractor(normalize: bool = False):
    from transformers import Wav2Vec2FeatureExtractor

    return Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=16000,
        padding_value=0.0,
        do_normalize=normalize,
        return_attention_mask=False,
    )


def _processor(folder: Path):
    from transformers import Wav2Vec2CTCTokenizer, Wav2Vec2Processor

    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "vocab.json", VOCAB)
    tokenizer = Wav2Vec2CTCTokenizer(str(folder / "vocab.json"))
    return Wav2Vec2Processor(feature_extractor=_feature_extractor(), tokenizer=tokenizer)


def build_wav2vec(folder: Path) -> Path:
    """Pretrained wav2vec with the pretraining loop's records and training state to leave out."""
    from wav2vec_hf.models.wav2vec import Wav2VecForPreTraining
    from wav2vec_hf.presets import get_preset

    Wav2VecForPreTraining(get_preset("wav2vec-tiny")).save_pretrained(folder)
    _feature_extractor().save_pretrained(folder)
    # The records as the pretraining loop writes them (its own types), not hand-written dicts: a
    # renamed field breaks the card tests.
    from wav2vec_hf.hardware import hardware_record
    from wav2vec_hf.pretraining.arguments import parse_arguments
    from wav2vec_hf.pretraining.run_summary import PretrainingResult, summary_record

    config = parse_arguments(
        ["--model_type", "wav2vec", "--preset", "wav2vec-tiny", "--train", "runs/demo/corpus/unlabeled.tsv",
         "--output_dir", str(folder), "--max_steps", "120", "--learning_rate", "0.0005", "--adam_beta2", "0.98",
         "--max_batch_samples", "64000", "--seed", "3"]
    )  # fmt: skip
    write_json(folder / "run_config.json", config.to_dict())
    result = PretrainingResult(
        output_dir=folder,
        updates=120,
        interrupted=False,
        export_dir=folder,
        first_valid=None,
        last_valid={"update": 120, "loss": 2.25, "accuracy": 0.375},
        last_train={"update": 120, "loss": 2.5},
        health={"healthy": True, "events": []},
        seconds=754.0,
        audio_seconds=7200.0,
    )
    write_json(
        folder / "pretraining_summary.json", summary_record(result, hardware_record("cpu", num_processes=2))
    )
    write_json(folder / "health.json", dataclasses.asdict(HealthSummary(healthy=True)))  # the loop's type
    (folder / "metrics.jsonl").write_text('{"update": 1, "loss": 3.0}\n', encoding="utf-8")
    (folder / "plots").mkdir()
    (folder / "plots" / "curves.png").write_bytes(tiny_png())
    (folder / "checkpoints" / "update-120").mkdir(parents=True)
    (folder / "checkpoints" / "update-120" / "trainer_state.json").write_text("{}", encoding="utf-8")
    (folder / "runs").mkdir()
    (folder / "notes.txt").write_text("scratch notes", encoding="utf-8")
    return folder


def build_vq_wav2vec(folder: Path) -> Path:
    from wav2vec_hf.models.wav2vec import VQWav2VecForPreTraining
    from wav2vec_hf.presets import get_preset

    VQWav2VecForPreTraining(get_preset("vq-wav2vec-gumbel-tiny")).save_pretrained(folder)
    _feature_extractor().save_pretrained(folder)
    return folder


def build_units_bert(folder: Path) -> Path:
    """A BERT over units with a word-level tokenizer whose vocabulary is the "i-j" unit tokens."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertForMaskedLM, PreTrainedTokenizerFast

    from wav2vec_hf.presets import get_preset

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {token: index for index, token in enumerate(specials + UNIT_TOKENS)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    config = get_preset("units-bert-tiny")
    config.vocab_size = len(vocab)
    BertForMaskedLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def build_wav2vec2(folder: Path) -> Path:
    from transformers import Wav2Vec2ForPreTraining

    from wav2vec_hf.presets import get_preset

    Wav2Vec2ForPreTraining(get_preset("wav2vec2-tiny")).save_pretrained(folder)
    _feature_extractor().save_pretrained(folder)
    return folder


def build_ctc(folder: Path) -> Path:
    """Stock wav2vec 2.0 CTC, with finetuning.json (greedy WER 0.95) and a Trainer checkpoint."""
    from transformers import Wav2Vec2ForCTC

    from wav2vec_hf.finetuning.arguments import FinetuneModelArguments, RecipeArguments
    from wav2vec_hf.finetuning.run_record import RUN_FILE, FinetuningArgumentsRecord, FinetuningRecord
    from wav2vec_hf.presets import get_preset

    processor = _processor(folder)
    config = get_preset("wav2vec2-tiny")
    config.vocab_size, config.pad_token_id = len(VOCAB), 0
    Wav2Vec2ForCTC(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    # Built from the writer's own types: a field renamed there breaks this fixture, not a card.
    model_options = FinetuneModelArguments(
        model="runs/demo/pretrained", mask_time_prob=0.05, mask_time_length=10, layerdrop=0.05
    )
    recipe_options = RecipeArguments(head_steps=50, head_learning_rate=0.01, tri_stage_ratios="0.1,0.4,0.5")
    record = FinetuningRecord(
        model="runs/demo/pretrained",
        model_class="Wav2Vec2ForCTC",
        parameters=123456,
        generation="wav2vec2",
        arguments=FinetuningArgumentsRecord(
            model=json.loads(json.dumps(dataclasses.asdict(model_options), default=str)),
            data={"train": "runs/demo/corpus/labeled.tsv", "eval": "runs/demo/corpus/dev.tsv"},
            recipe=json.loads(json.dumps(dataclasses.asdict(recipe_options), default=str)),
            peak_learning_rate=0.0003,
            max_steps=400,
            batch_size=8,
            seed=7,
        ),
        schedule={"kind": "head_first"},
        train_utterances=96,
        train_minutes=3.0,
        eval_utterances=64,
        metrics={"eval_wer": 0.95, "eval_cer": 0.412, "eval_loss": 1.7},
        seconds=301.0,
        hardware={"device": "cpu", "num_processes": 1},
    )
    write_json(folder / RUN_FILE, record.to_dict())
    write_json(folder / "text_normalizer.json", {"case": "upper"})
    (folder / "checkpoint-400").mkdir()
    write_json(
        folder / "checkpoint-400" / "trainer_state.json",
        {"global_step": 400, "max_steps": 400, "train_batch_size": 8},
    )
    (folder / "training_args.bin").write_bytes(b"\x80\x04not really a pickle")
    return folder


def build_ctc_remote(folder: Path) -> Path:
    """wav2vec (2019) with the wav2letter CTC head: remote code, no records."""
    from wav2vec_hf.models.wav2vec import Wav2VecForCTC
    from wav2vec_hf.presets import get_preset

    processor = _processor(folder)
    config = get_preset("wav2vec-tiny")
    config.vocab_size, config.pad_token_id = len(VOCAB), 0
    config.ctc_head_layers = ((32, 5), (32, 5))  # the paper's 7 x 1000 head would be 30M parameters
    Wav2VecForCTC(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def build_ctc_lm(folder: Path) -> Path:
    """``build_ctc`` plus alphabet.json, language_model/ and evaluation.json (greedy and LM, two sets)."""
    build_ctc(folder)
    labels = ["", "⁇", " ", "A", "B", "C"]
    write_json(folder / "alphabet.json", {"labels": labels, "is_bpe": False})
    lm = folder / "language_model"
    lm.mkdir()
    (lm / "lm.arpa").write_text(ARPA, encoding="utf-8")
    (lm / "unigrams.txt").write_text("AB\nCAB\n", encoding="utf-8")
    write_json(
        lm / "attrs.json", {"alpha": 0.7, "beta": 1.25, "unk_score_offset": -10.0, "score_boundary": True}
    )
    dev = {"name": "built-in corpus dev", "type": "wav2vec-hf/builtin-corpus", "split": "dev"}
    test = {"name": "built-in corpus test", "type": "wav2vec-hf/builtin-corpus", "split": "test"}
    lm_info = {"order": 2, "alpha": 0.7, "beta": 1.25, "beam_width": 16}
    write_json(
        folder / "evaluation.json",
        {
            "results": [
                {"dataset": dev, "decoder": "greedy", "wer": 0.5812, "cer": 0.2301},
                {"dataset": dev, "decoder": "lm", "lm": lm_info, "wer": 0.4123, "cer": 0.1987},
                {"dataset": test, "decoder": "greedy", "wer": 0.6, "cer": 0.25},
                {"dataset": test, "decoder": "lm", "lm": lm_info, "wer": 0.45},
            ],
            "hardware": {"device": "NVIDIA H200", "num_processes": 1},
        },
    )
    SelfTrainingRecord(
        round=1, starting_model="round-0", pseudo_labels_kept=300, pseudo_labels_total=420,
        labelled_utterances=120, final_model="ctc",
    ).write(folder)  # fmt: skip
    return folder


BUILDERS = {
    "wav2vec": build_wav2vec,
    "vq-wav2vec": build_vq_wav2vec,
    "units-bert": build_units_bert,
    "wav2vec2": build_wav2vec2,
    "ctc": build_ctc,
    "ctc-remote": build_ctc_remote,
    "ctc-lm": build_ctc_lm,
}


def build_all(root: Path) -> dict[str, Path]:
    """Every kind under ``root/<kind>``."""
    return {kind: BUILDERS[kind](root / kind) for kind in KINDS}
