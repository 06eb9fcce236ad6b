"""Self-training rounds ("Self-training and Pre-training are Complementary", Xu et al. 2021), resumable.

Folders under ``output_dir`` (each stage finishes with ``STAGE_DONE.json``, see ``stages``)::

    round-1/finetune/     stage 1: CTC fine-tuning of the pretrained model on the labelled data
    lm/ngram/             the word n-gram LM of the LM text (spelled like the model's vocabulary)
    lm/neural/            the causal Transformer LM for rescoring (unless ``rescore_lm`` is given)
    round-N/decode/       stage 2: the round's starting model on dev/test (greedy and with the LM,
                          alpha/beta tuned on dev); n-best lists with scores of unlabelled and dev audio
    round-N/rescore/      stage 3: neural-LM scores of every hypothesis; combination weights tuned on dev
    round-N/filter/       stage 4: pseudo_labels.tsv (kept, with scores), train.tsv (labelled + kept)
    round-N/train/        stage 5: CTC fine-tuning of the pretrained model on train.tsv (option a), or
                          the seq2seq Transformer on filterbanks (option b, ``final_model="seq2seq"``);
                          its model/ folder holds ``self_training.json`` (``run_record``: the round,
                          the pseudo-label counts, the settings), which the model card reads
    round-N/evaluate/     the new model on dev/test
    results.json, results.md   the table (one row per model), rewritten after every round
    settings.json         the run's settings: a rerun in the folder must use the same ones

Round N > 1 starts from round N-1's model; its decode stage takes that model's scores and tuned LM
weights from round N-1's evaluate stage instead of measuring them again. The unlabelled data's own
transcripts (when it has them, as the built-in corpus does) are read only to report the pseudo-label
WER.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from wav2vec_hf.json_files import write_json
from wav2vec_hf.selftraining.run_record import SelfTrainingRecord
from wav2vec_hf.selftraining.stages import StageRunner, StopAfterStage

logger = logging.getLogger(__name__)

CONFIG_FILE = "settings.json"
_OLD_CONFIG_FILE = "self_training.json"  # the settings' name in run folders written before 2026-12
TABLE_JSON = "results.json"
TABLE_MARKDOWN = "results.md"
# Fields that may change between a run and its resumption (they do not change any stage's output).
_RESUMABLE_FIELDS = {"rounds", "stop_after", "output_dir", "decode_workers"}


@dataclass
class SelfTrainingConfig:
    """Everything a self-training run needs (the CLI and ``scripts/self_train.py`` fill it).

    Attributes:
        pretrained: pretrained model folder (or preset name) that stages 1 and 5 fine-tune.
        labeled, unlabeled, dev: data (anything ``open_audio_source`` reads); ``dev`` is labelled.
        test: labelled test data, or ``None``.
        lm_text: text files of the n-gram LM and of the neural LM.
        output_dir: the run folder (see the module docstring).
        rounds: self-training rounds.
        seed: seed of every training stage.
        finetuned: an existing CTC folder to use as the stage-1 model (no fine-tuning then).
        finetune_args: extra ``finetune_ctc`` command-line arguments of stages 1 and 5 (e.g.
            ``["--max_steps", "300", "--head_steps", "100"]``); ``--model``, ``--train``, ``--eval``,
            ``--output_dir``, ``--seed`` are set here.
        lm_order: n-gram order.
        beam_width, n_best: beam search of stage 2 (n-best kept per utterance, at most the beam).
        lm_alphas, lm_betas: grid of the n-gram fusion weights tuned on dev.
        rescore: rescore the n-best with a neural LM (stage 3); ``False`` ranks by n-gram and
            acoustic scores only (their weights are still tuned on the dev n-best).
        rescore_lm: a causal LM folder (``AutoModelForCausalLM`` + tokenizer); ``None`` trains one
            with ``train_lm`` on ``lm_text``.
        neural_lm_level, neural_lm_steps, neural_lm_size: the trained LM: ``"word"`` / ``"char"``
            tokens, updates, width (``n_embd``; 2 layers, 2 heads).
        ngram_weights, neural_weights, word_bonuses: grid of the rescoring weights.
        min_score, keep_fraction, require_agreement, balance_transcripts: the pseudo-label filter
            (``pseudo_labels``).
        align_transcripts: label by distribution alignment (``prior_alignment``): the pseudo-labels'
            transcript counts follow the labelled table's (closed sets such as digits).
        decode_workers: processes for beam search.
        final_model: stage 5: ``"ctc"`` (option a: fine-tune the pretrained model again with CTC) or
            ``"seq2seq"`` (option b: the paper's Transformer on log-Mel filterbanks with word pieces,
            ``selftraining.seq2seq``; last round only, since it cannot pseudo-label with the n-gram LM).
        seq2seq_steps, seq2seq_beams: its training updates and decoding beam width.
        stop_after: stop (as if killed) after this stage, e.g. ``"round-1/decode"``.
    """

    pretrained: str
    labeled: str
    unlabeled: str
    dev: str
    output_dir: str
    lm_text: list[str] = field(default_factory=list)
    test: str | None = None
    rounds: int = 1
    seed: int = 0
    finetuned: str | None = None
    finetune_args: list[str] = field(default_factory=list)
    lm_order: int = 4
    beam_width: int = 50
    n_best: int = 50
    lm_alphas: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5, 2.0)
    lm_betas: tuple[float, ...] = (-1.0, 0.0, 1.0, 2.0)
    rescore: bool = True
    rescore_lm: str | None = None
    neural_lm_level: str = "word"
    neural_lm_steps: int = 300
    neural_lm_size: int = 64
    ngram_weights: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5, 2.0)
    neural_weights: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 1.5)
    word_bonuses: tuple[float, ...] = (-1.0, 0.0, 1.0, 2.0, 3.0)
    min_score: float | None = None
    keep_fraction: float = 1.0
    require_agreement: bool = False
    balance_transcripts: bool = False
    align_transcripts: bool = False
    decode_workers: int = 1
    final_model: str = "ctc"
    seq2seq_steps: int = 1500
    seq2seq_beams: int = 5
    stop_after: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.lm_text, str | os.PathLike):
            self.lm_text = [str(self.lm_text)]
        self.lm_text = [str(p) for p in self.lm_text]
        self.finetune_args = [str(a) for a in self.finetune_args]
        if not self.lm_text:
            raise ValueError("lm_text: give at least one LM text file (one sentence a line)")
        for path in self.lm_text:
            if not Path(path).is_file():
                raise FileNotFoundError(f"{path}: LM text file not found (lm_text)")
        if self.rounds < 1:
            raise ValueError(f"rounds={self.rounds}: give at least 1")
        if self.n_best < 1 or self.beam_width < 1:
            raise ValueError("beam_width and n_best must be at least 1")
        if self.n_best > self.beam_width:
            raise ValueError(
                f"n_best={self.n_best} > beam_width={self.beam_width}: the beam keeps at most beam_width"
            )
        reserved = {"--model", "--train", "--eval", "--output_dir", "--seed"}
        clash = sorted(reserved & {a.split("=")[0] for a in self.finetune_args})
        if clash:
            raise ValueError(f"finetune_args: {clash} are set by self-training; remove them")
        if self.final_model not in ("ctc", "seq2seq"):
            raise ValueError(f"final_model={self.final_model!r}: give 'ctc' or 'seq2seq'")
        if self.final_model == "seq2seq" and self.rounds != 1:
            raise ValueError(
                f"final_model='seq2seq' with rounds={self.rounds}: the seq2seq model is the final one and "
                "cannot pseudo-label another round with the n-gram LM; use rounds=1 (or CTC rounds first, "
                "then a seq2seq run with --finetuned on the last CTC model)"
            )
        self.filter_settings()  # validates

    def filter_settings(self):
        """The pseudo-label filter of this run (``pseudo_labels.FilterSettings``)."""
        from wav2vec_hf.selftraining.pseudo_labels import FilterSettings

        return FilterSettings(
            self.min_score, self.keep_fraction, self.require_agreement, self.balance_transcripts
        )

    def to_json(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self), default=str))

    @classmethod
    def default_json(cls) -> dict:
        """The JSON of every setting that has a default (``to_json``'s form)."""
        defaults = {}
        for spec in dataclasses.fields(cls):
            if spec.default is not dataclasses.MISSING:
                defaults[spec.name] = spec.default
            elif spec.default_factory is not dataclasses.MISSING:
                defaults[spec.name] = spec.default_factory()
        return json.loads(json.dumps(defaults, default=str))


@dataclass
class SelfTrainingResult:
    """What ``run_self_training`` produced.

    Attributes:
        rounds: the table, one row per evaluated model (see ``TABLE_KEYS``).
        final_model: the last finished round's CTC folder (the stage-1 model before any round).
        table_path: ``results.json`` (``results.md`` beside it).
        completed: every requested round finished (``False`` after ``stop_after``).
        stages_run, stages_skipped: stage names computed now / found finished.
        seconds: wall time of this call.
    """

    rounds: list[dict]
    final_model: Path
    table_path: Path
    completed: bool = True
    stages_run: list[str] = field(default_factory=list)
    stages_skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0


TABLE_KEYS = (
    "round",
    "model",
    "dev_wer_greedy",
    "dev_cer_greedy",
    "dev_wer_lm",
    "dev_cer_lm",
    "test_wer_greedy",
    "test_cer_greedy",
    "test_wer_lm",
    "test_cer_lm",
    "pseudo_labels_kept",
    "pseudo_labels_total",
    "pseudo_label_wer",
)


# ---------------------------------------------------------------- stages


def _finetune(
    config: SelfTrainingConfig,
    train: str,
    folder: Path,
    *,
    vocabulary: str | None,
    record: SelfTrainingRecord | None = None,
) -> dict:
    """CTC fine-tuning of the pretrained model on ``train`` into ``folder/model`` (``record``: the
    self-training round it is, written into the model folder)."""
    from wav2vec_hf.finetuning.arguments import parse_args
    from wav2vec_hf.finetuning.ctc import finetune_ctc

    argv = [
        "--model", config.pretrained, "--train", str(train), "--eval", str(config.dev),
        "--output_dir", str(folder / "model"), "--seed", str(config.seed), "--disable_tqdm", "true",
    ]  # fmt: skip
    if vocabulary and not any(a.split("=")[0] == "--vocabulary" for a in config.finetune_args):
        argv += ["--vocabulary", vocabulary]
    # A stage killed part-way continues from its newest checkpoint (the folder is this stage's alone).
    result = finetune_ctc(*parse_args(argv + config.finetune_args), resume_from_checkpoint="last")
    if record is not None:
        record.write(result.output_dir)
    return {"model": str(result.output_dir), "metrics": result.metrics, "seconds": result.seconds}


def _build_ngram(config: SelfTrainingConfig, model_dir: str, folder: Path) -> dict:
    from wav2vec_hf.decoding.lm_build import build_lm
    from wav2vec_hf.decoding.lm_text import lm_text_normalizer, read_vocabulary

    normalizer = lm_text_normalizer(read_vocabulary(Path(model_dir) / "vocab.json"), model_dir)
    built = build_lm(config.lm_text, folder, order=config.lm_order, normalizer=normalizer)
    return {"lm": str(folder), "sentences": built.lines_used, "vocabulary": len(built.model.unigrams())}


def _train_neural_lm(config: SelfTrainingConfig, folder: Path) -> dict:
    from wav2vec_hf.selftraining.neural_lm import NeuralLMConfig, train_lm

    settings = NeuralLMConfig(
        level=config.neural_lm_level,
        max_steps=config.neural_lm_steps,
        n_embd=config.neural_lm_size,
        seed=config.seed,
    )
    trained = train_lm(config.lm_text, folder, settings)
    return {
        "lm": str(folder),
        "parameters": trained.parameters,
        "validation_perplexity": trained.validation_perplexity,
        "seconds": trained.seconds,
    }


def _nbest_lists(data, output, n_best: int) -> list:
    from wav2vec_hf.selftraining.rescoring import LN10, NBest, ScoredHypothesis

    lists = []
    for record, logits, hypotheses in zip(data.records, data.logits, output.hypotheses, strict=True):
        scored = [
            ScoredHypothesis(
                text=h.text,
                acoustic=float(h.acoustic_score),
                ngram=LN10 * float(h.lm_log10_probability) if h.lm_log10_probability is not None else 0.0,
                beam_rank=rank,
            )
            for rank, h in enumerate(hypotheses[:n_best])
        ]
        lists.append(
            NBest(
                id=record.id, path=record.path, hypotheses=scored, speaker=record.speaker, frames=len(logits)
            )
        )
    return lists


def _write_nbest(lists, path: Path) -> None:
    with open(path, "w", encoding="utf-8") as stream:
        for item in lists:
            stream.write(json.dumps(item.to_json()) + "\n")


def _read_nbest(path: Path) -> list:
    from wav2vec_hf.selftraining.rescoring import NBest

    with open(path, encoding="utf-8") as stream:
        return [NBest.from_json(json.loads(line)) for line in stream if line.strip()]


def _decode(
    config: SelfTrainingConfig,
    model_dir: str,
    lm_dir: str,
    folder: Path,
    *,
    scored: dict | None = None,
    progress: bool = False,
) -> dict:
    """Stage 2: evaluate the starting model; n-best lists of the unlabelled and dev audio.

    ``scored``: the starting model's evaluation when the previous round's evaluate stage already made
    it (rounds after the first): reused, with its tuned LM weights, instead of scoring the model again.
    ``progress``: bars for the logits, the LM weight search and each beam search.
    """
    from wav2vec_hf.selftraining.evaluation import (
        LoadedModel,
        error_rates,
        references_of,
        score_model,
        set_logits,
    )

    loaded = LoadedModel.load(model_dir, lm_dir)
    # the dev logits: scored, then decoded to n-best lists
    dev_data = set_logits(loaded.model, loaded.processor, config.dev, progress=progress)
    evaluation = scored or score_model(
        loaded,
        dev_data,
        config.test,
        config.beam_width,
        config.lm_alphas,
        config.lm_betas,
        progress=progress,
    )
    decoder = loaded.lm
    options = {
        "alpha": evaluation["alpha"],
        "beta": evaluation["beta"],
        "beam_width": config.beam_width,
        "n_best": config.n_best,
    }
    counts = {}
    with decoder:
        for split in ("unlabeled", "dev"):
            data = (
                dev_data
                if split == "dev"
                else set_logits(loaded.model, loaded.processor, config.unlabeled, progress=progress)
            )
            workers = config.decode_workers if config.decode_workers > 1 else None
            output = decoder.batch_decode(data.logits, num_processes=workers, progress=progress, **options)
            lists = _nbest_lists(data, output, config.n_best)
            _write_nbest(lists, folder / f"{split}_nbest.jsonl")
            counts[split] = len(lists)
            if split == "dev":
                beam_best = error_rates(
                    references_of(data, loaded.normalizer), [n.hypotheses[0].text for n in lists]
                )
                counts["dev_beam_wer"] = beam_best["wer"]
    return {"model": str(model_dir), "evaluation": evaluation, "decoding": options, "utterances": counts}


def _rescore(
    config: SelfTrainingConfig, decode_dir: Path, decode: dict, neural_lm: str | None, folder: Path
) -> dict:
    """Stage 3: neural-LM scores of every hypothesis; weights tuned on the dev n-best."""
    from wav2vec_hf.data import open_audio_source
    from wav2vec_hf.data.normalization import TextNormalizer
    from wav2vec_hf.selftraining.neural_lm import CausalLMScorer
    from wav2vec_hf.selftraining.rescoring import RescoreWeights, add_neural_scores, tune_rescoring

    unlabeled = _read_nbest(decode_dir / "unlabeled_nbest.jsonl")
    dev = _read_nbest(decode_dir / "dev_nbest.jsonl")
    normalizer = TextNormalizer.from_folder(decode["model"]) or TextNormalizer()
    transcripts = {r.id: r.transcript for r in open_audio_source(config.dev).records}
    references = [normalizer(transcripts[n.id]) for n in dev]
    neural_weights = tuple(config.neural_weights)
    scored_texts = 0
    if config.rescore and neural_lm:
        scorer = CausalLMScorer.from_pretrained(neural_lm)
        scored_texts = add_neural_scores(unlabeled + dev, scorer)
    else:
        neural_weights = (0.0,)
    alpha, beta = decode["evaluation"]["alpha"], decode["evaluation"]["beta"]
    beam_setting = RescoreWeights(alpha, 0.0, beta)  # the beam search's own ranking
    tuning = tune_rescoring(
        dev, references, config.ngram_weights, neural_weights, config.word_bonuses, preferred=beam_setting
    )
    weights, dev_wer = tuning.best
    beam_wer = dict((w, e) for w, e in tuning.wer)[beam_setting]
    _write_nbest(unlabeled, folder / "unlabeled_nbest.jsonl")
    _write_nbest(dev, folder / "dev_nbest.jsonl")
    return {
        "weights": dataclasses.asdict(weights),
        "dev_wer_rescored": dev_wer,
        "dev_wer_beam_ranking": beam_wer,
        "neural_lm": neural_lm if config.rescore else None,
        "texts_scored": scored_texts,
        "grid_points": len(tuning.wer),
    }


def _filter(config: SelfTrainingConfig, rescore_dir: Path, rescore: dict, folder: Path) -> dict:
    """Stage 4: choose, filter and write the pseudo-labels; the training table (labelled + kept)."""
    from wav2vec_hf.data import open_audio_source
    from wav2vec_hf.selftraining.pseudo_labels import (
        choose_pseudo_labels,
        filter_pseudo_labels,
        labelled_rows,
        pseudo_label_rows,
        write_table,
    )
    from wav2vec_hf.selftraining.rescoring import RescoreWeights

    nbests = _read_nbest(rescore_dir / "unlabeled_nbest.jsonl")
    weights = RescoreWeights(**rescore["weights"])
    labelled = labelled_rows(open_audio_source(config.labeled))
    alignment = None
    if config.align_transcripts:
        from wav2vec_hf.selftraining.prior_alignment import align_pseudo_labels, transcript_prior

        aligned = align_pseudo_labels(nbests, weights, transcript_prior(r["transcript"] for r in labelled))
        labels = aligned.labels
        alignment = {
            "changed": aligned.changed,
            "outside_prior": aligned.outside_prior,
            "converged": aligned.converged,
            "log_weights": aligned.log_weights,
        }
        logger.info(
            "%s: distribution alignment changed %d of %d labels (%d without a labelled transcript in "
            "their n-best)", folder, aligned.changed, len(labels), aligned.outside_prior,
        )  # fmt: skip
    else:
        labels = choose_pseudo_labels(nbests, weights)
    settings = config.filter_settings()
    report = filter_pseudo_labels(labels, settings)
    write_table(pseudo_label_rows(report.kept), folder / "pseudo_labels.tsv")
    write_table(labelled + pseudo_label_rows(report.kept), folder / "train.tsv")
    if not report.kept:
        logger.warning(
            "%s: the filter kept none of the %d pseudo-labels (dropped: %s), so stage 5 trains on the "
            "labelled data only. 'empty' means the starting model emits empty transcripts (fine-tune it "
            "longer); the other reasons are the filter's settings (min_score, keep_fraction, "
            "require_agreement)",
            folder, report.total, dict(report.dropped),
        )  # fmt: skip
    summary = {
        "pseudo_labels_kept": len(report.kept),
        "pseudo_labels_total": report.total,
        "dropped": dict(report.dropped),
        "labelled_utterances": len(labelled),
        "filter": dataclasses.asdict(settings),
        "alignment": alignment,
        "pseudo_label_wer": None,
        "pseudo_label_wer_all": None,
    }
    summary.update(_pseudo_label_truth(config, labels, report.kept, folder))
    return summary


def _pseudo_label_truth(config: SelfTrainingConfig, labels, kept, folder: Path) -> dict:
    """Pseudo-label WER / CER against the unlabelled data's own transcripts, when every utterance has one.

    Only reported: nothing in the recipe reads these transcripts.
    """
    from wav2vec_hf.data import open_audio_source
    from wav2vec_hf.data.normalization import TextNormalizer
    from wav2vec_hf.selftraining.evaluation import error_rates

    truth = {r.id: r.transcript for r in open_audio_source(config.unlabeled).records}
    if not truth or any(not t for t in truth.values()):
        return {}
    normalizer = TextNormalizer()
    result = {}
    for name, chosen in (("", kept), ("_all", labels)):
        if chosen:
            rates = error_rates([normalizer(truth[x.id]) for x in chosen], [x.text for x in chosen])
            result[f"pseudo_label_wer{name}"] = rates["wer"]
            result[f"pseudo_label_cer{name}"] = rates["cer"]
    return result


def _train_seq2seq(
    config: SelfTrainingConfig, train: str, folder: Path, *, record: SelfTrainingRecord
) -> dict:
    from wav2vec_hf.selftraining.seq2seq import Seq2SeqOptions, train_seq2seq

    options = Seq2SeqOptions(max_steps=config.seq2seq_steps, num_beams=config.seq2seq_beams, seed=config.seed)
    summary = train_seq2seq(train, folder / "model", options)
    record.write(summary["model"])
    return {"model": summary["model"], "seq2seq": summary}


def _evaluate_seq2seq(config: SelfTrainingConfig, model_dir: str, folder: Path) -> dict:
    """Beam search of the seq2seq model on dev (and test); in the table's "greedy" (no external LM) columns."""
    from wav2vec_hf.selftraining.evaluation import error_rates
    from wav2vec_hf.selftraining.seq2seq import load_seq2seq, transcribe_set

    model, processor = load_seq2seq(model_dir)
    evaluation: dict = {}
    for name, data in (("dev", config.dev), ("test", config.test)):
        rates = {"wer": None, "cer": None}
        if data:
            hypotheses, references = transcribe_set(model, processor, data, num_beams=config.seq2seq_beams)
            rates = error_rates(references, hypotheses)
        evaluation.update({f"{name}_wer_greedy": rates["wer"], f"{name}_cer_greedy": rates["cer"]})
        evaluation.update({f"{name}_wer_lm": None, f"{name}_cer_lm": None})
    return {
        "model": str(model_dir),
        "evaluation": evaluation,
        "decoder": f"beam {config.seq2seq_beams}, no LM",
    }


def _evaluate(
    config: SelfTrainingConfig, model_dir: str, lm_dir: str, folder: Path, *, progress: bool = False
) -> dict:
    from wav2vec_hf.selftraining.evaluation import evaluate_model

    evaluation = evaluate_model(
        model_dir,
        lm_dir,
        config.dev,
        config.test,
        config.beam_width,
        config.lm_alphas,
        config.lm_betas,
        progress=progress,
    )
    return {"model": str(model_dir), "evaluation": evaluation}


# ---------------------------------------------------------------- the table


def _row(round_index: int, model: str, evaluation: dict, pseudo: dict | None) -> dict:
    row = {"round": round_index, "model": model}
    for key in TABLE_KEYS[2:10]:
        row[key] = evaluation.get(key)
    for key in ("pseudo_labels_kept", "pseudo_labels_total", "pseudo_label_wer"):
        row[key] = pseudo.get(key) if pseudo else None
    return row


def format_table(rows: list[dict]) -> str:
    """The table as Markdown: error rates in %, '-' where not measured."""

    def cell(value) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{100 * value:.2f}"
        return str(value)

    columns = [k for k in TABLE_KEYS if k != "model"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(k)) for k in columns) + " |" for row in rows]
    lines.append("")
    lines.append("Error rates in %; round 0 = the fine-tuned model self-training starts from; models:")
    lines += [f"- round {row['round']}: {row['model']}" for row in rows]
    return "\n".join(lines)


def _save_table(root: Path, rows: list[dict]) -> Path:
    path = write_json(root / TABLE_JSON, rows)
    temporary = root / f".{TABLE_MARKDOWN}.tmp"
    temporary.write_text(format_table(rows) + "\n", encoding="utf-8")
    os.replace(temporary, root / TABLE_MARKDOWN)
    return path


# ---------------------------------------------------------------- the run


def _check_config(root: Path, config: SelfTrainingConfig) -> None:
    """A rerun in the same folder must use the same settings (except the resumable ones)."""
    path, old = root / CONFIG_FILE, root / _OLD_CONFIG_FILE
    current = config.to_json()
    stored_at = path if path.is_file() else old if old.is_file() else None
    if stored_at is not None:
        stored = json.loads(stored_at.read_text(encoding="utf-8"))
        # A setting added since that run was written ran at its default there.
        defaults = SelfTrainingConfig.default_json()
        stored = {key: stored.get(key, defaults.get(key)) for key in set(stored) | set(defaults)}
        changed = sorted(
            k
            for k in set(stored) | set(current)
            if k not in _RESUMABLE_FIELDS and stored.get(k) != current.get(k)
        )
        if changed:
            raise ValueError(
                f"{root}: this folder holds a self-training run with other settings ({', '.join(changed)}); "
                "use another --output-dir, or the same settings to resume"
            )
    write_json(path, current)


def _collect_rows(runner: StageRunner, rounds: int) -> list[dict]:
    """The table from the finished stages' markers: the starting model, then each finished round."""
    rows: list[dict] = []
    decode = runner.summary("round-1/decode")
    if decode is None:
        return rows
    rows.append(_row(0, decode["model"], decode["evaluation"], None))
    for index in range(1, rounds + 1):
        evaluation = runner.summary(f"round-{index}/evaluate")
        pseudo = runner.summary(f"round-{index}/filter")
        if evaluation is None or pseudo is None:
            break
        rows.append(_row(index, evaluation["model"], evaluation["evaluation"], pseudo))
    return rows


def _run_round(
    config: SelfTrainingConfig,
    runner: StageRunner,
    index: int,
    start_model: str,
    lm_dir: str,
    neural_lm: str | None,
    vocabulary: str,
    progress: bool = False,
) -> str:
    """Stages 2-5 and the evaluation of round ``index``; returns the new model folder."""
    name = f"round-{index}"
    decode_dir, rescore_dir = runner.folder(f"{name}/decode"), runner.folder(f"{name}/rescore")
    train_table = str(runner.folder(f"{name}/filter") / "train.tsv")
    previous = runner.summary(f"round-{index - 1}/evaluate") if index > 1 else None
    scored = previous["evaluation"] if previous and previous["model"] == start_model else None
    decode = runner.run(
        f"{name}/decode", partial(_decode, config, start_model, lm_dir, scored=scored, progress=progress)
    )
    rescore = runner.run(f"{name}/rescore", partial(_rescore, config, decode_dir, decode, neural_lm))
    pseudo = runner.run(f"{name}/filter", partial(_filter, config, rescore_dir, rescore))
    record = SelfTrainingRecord(
        round=index,
        starting_model=start_model,
        pseudo_labels_kept=pseudo["pseudo_labels_kept"],
        pseudo_labels_total=pseudo["pseudo_labels_total"],
        labelled_utterances=pseudo["labelled_utterances"],
        final_model=config.final_model,
        settings=config.to_json(),
    )
    if config.final_model == "seq2seq":
        model_dir = runner.run(
            f"{name}/train", partial(_train_seq2seq, config, train_table, record=record), resumable=True
        )["model"]
        runner.run(f"{name}/evaluate", partial(_evaluate_seq2seq, config, model_dir))
        return model_dir
    model_dir = runner.run(
        f"{name}/train",
        partial(_finetune, config, train_table, vocabulary=vocabulary, record=record),
        resumable=True,
    )["model"]
    runner.run(f"{name}/evaluate", partial(_evaluate, config, model_dir, lm_dir, progress=progress))
    return model_dir


def run_self_training(config: SelfTrainingConfig, *, progress: bool = False) -> SelfTrainingResult:
    """Run (or resume) the recipe of ``config``; see the module docstring for the stages and folders.

    Prints the table after every round; ``result.rounds`` holds it (one row per evaluated model).
    ``progress``: progress bars on stderr for the decode and evaluate stages' logits, LM weight
    search and beam searches (only when stderr is a terminal); not part of the run's settings.
    """
    started = time.perf_counter()
    root = Path(config.output_dir)
    root.mkdir(parents=True, exist_ok=True)
    _check_config(root, config)
    runner = StageRunner(root, stop_after=config.stop_after)
    completed = True
    model_dir = config.finetuned or ""
    try:
        if config.finetuned is None:
            stage1 = runner.run(
                "round-1/finetune",
                partial(_finetune, config, config.labeled, vocabulary=None),
                resumable=True,
            )
            model_dir = stage1["model"]
        elif not (Path(config.finetuned) / "config.json").is_file():
            raise FileNotFoundError(
                f"{config.finetuned}: no config.json; give a fine-tuned CTC folder (finetuned)"
            )
        vocabulary = str(Path(model_dir) / "vocab.json")
        lm_dir = runner.run("lm/ngram", partial(_build_ngram, config, model_dir))["lm"]
        neural_lm = config.rescore_lm
        if config.rescore and neural_lm is None:
            neural_lm = runner.run("lm/neural", partial(_train_neural_lm, config))["lm"]
        for index in range(1, config.rounds + 1):
            model_dir = _run_round(config, runner, index, model_dir, lm_dir, neural_lm, vocabulary, progress)
            rows = _collect_rows(runner, config.rounds)
            _save_table(root, rows)
            print(f"\nself-training, after round {index}:\n{format_table(rows)}\n", flush=True)
    except StopAfterStage as stop:
        logger.warning("stopped after stage %s (stop_after)", stop)
        completed = False
    rows = _collect_rows(runner, config.rounds)
    table_path = _save_table(root, rows)
    return SelfTrainingResult(
        rounds=rows,
        final_model=Path(model_dir),
        table_path=table_path,
        completed=completed,
        stages_run=list(runner.ran),
        stages_skipped=list(runner.skipped),
        seconds=time.perf_counter() - started,
    )


__all__ = ["TABLE_KEYS", "SelfTrainingConfig", "SelfTrainingResult", "format_table", "run_self_training"]
