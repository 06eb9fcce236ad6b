"""Demo step: a 4-gram LM from the corpus LM text, attached to every fine-tuned model; greedy and
LM decoding of dev and test; the LM weights tuned on dev.

Each model is loaded once and its dev / test logits computed once (``decoding.inference``); greedy is
the best path, LM decoding the project's beam search with shallow fusion (``CTCProcessorWithLanguageModel``),
both scored by ``decoding.scoring``. The scores go into the model folder's ``evaluation.json`` (the
schema the model cards read).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wav2vec_hf.recipes.demo_steps.environment import hardware_record, write_json

if TYPE_CHECKING:
    from wav2vec_hf.recipes.demo_steps.run import DemoRun

LM_ORDER = 4
EVAL_SPLITS = ("dev", "test")
DATASET_NAMES = {
    "dev": "built-in corpus, dev (held-out voices)",
    "test": "built-in corpus, test (held-out voices)",
}


def build_language_model(run: DemoRun, vocabulary_source: Path) -> Path:
    """The LM folder, its text spelled with the model's vocabulary (built once for all models)."""
    from wav2vec_hf.decoding.lm_build import build_lm
    from wav2vec_hf.decoding.lm_text import lm_text_normalizer, read_vocabulary

    out = run.output_dir / "lm"
    model_dir = vocabulary_source if Path(vocabulary_source).is_dir() else None
    normalizer = lm_text_normalizer(read_vocabulary(str(vocabulary_source)), model_dir)
    built = build_lm([run.corpus_dir / "lm_text.txt"], out, order=LM_ORDER, normalizer=normalizer)
    print("  " + built.summary().replace("\n", "\n  "), flush=True)
    return out


def decode_model(run: DemoRun, model_dir: Path, lm_dir: Path) -> dict[str, Any]:
    """Attach the LM to ``model_dir``, tune alpha / beta on dev, score dev and test greedy and with the LM.

    Returns ``{split: {"greedy": {wer, cer}, "lm": {wer, cer}}, "alpha", "beta", "tuning"}`` and
    writes ``model_dir/evaluation.json``.
    """
    from wav2vec_hf.decoding.decoder import greedy_decode
    from wav2vec_hf.decoding.inference import load_model, logits_of
    from wav2vec_hf.decoding.processor import attach_language_model, write_fusion_weights
    from wav2vec_hf.decoding.scoring import (
        greedy_transcripts,
        model_references,
        score_logits,
        tune_lm_on_logits,
    )

    scale = run.scale
    processor = attach_language_model(model_dir, lm_dir)
    labels = processor.decoder.labels
    model = load_model(model_dir, run.device)
    logits, references = {}, {}
    for split in EVAL_SPLITS:
        data = logits_of(model, processor.feature_extractor, run.corpus_dir / f"{split}.tsv", progress=True)
        logits[split] = data.logits
        references[split] = model_references(data.references, model_dir, processor.tokenizer.get_vocab())
    scores: dict[str, Any] = {}
    with processor:
        tuning = tune_lm_on_logits(
            processor,
            logits["dev"],
            references["dev"],
            beam_width=scale.beam_width,
            alphas=scale.alphas,
            betas=scale.betas,
            progress=True,
        )
        alpha, beta, _ = tuning.best
        for split in EVAL_SPLITS:
            rates = score_logits(
                logits[split],
                references[split],
                partial(greedy_transcripts, labels=labels),
                processor,
                alpha=alpha,
                beta=beta,
                beam_width=scale.beam_width,
                progress=True,
            )
            scores[split] = {
                "greedy": {"wer": rates["wer_greedy"], "cer": rates["cer_greedy"]},
                "lm": {"wer": rates["wer_lm"], "cer": rates["cer_lm"]},
                "utterances": len(references[split]),
                "example": {
                    "reference": references[split][0],
                    "greedy": greedy_decode(logits[split][0], labels),
                },
            }
    write_fusion_weights(model_dir, alpha=alpha, beta=beta)
    lm_info = {"order": LM_ORDER, "alpha": alpha, "beta": beta, "beam_width": scale.beam_width}
    results = []
    for split in EVAL_SPLITS:
        # No "type": the built-in corpus is not a Hub dataset, so the card's model-index leaves it out.
        dataset = {"name": DATASET_NAMES[split], "split": split}
        results.append({"dataset": dataset, "decoder": "greedy", **scores[split]["greedy"]})
        results.append({"dataset": dataset, "decoder": "lm", "lm": lm_info, **scores[split]["lm"]})
    write_json(
        model_dir / "evaluation.json",
        {
            "results": results,
            "hardware": hardware_record(run.device),
            "note": "alpha and beta tuned on dev; test decoded with the dev-tuned weights",
        },
    )
    return {
        **scores,
        "alpha": alpha,
        "beta": beta,
        "tuning_wer": {f"{a},{b}": w for (a, b), w in tuning.wer.items()},
    }


def decode_step(run: DemoRun) -> dict[str, Any]:
    """Build the LM, then decode every fine-tuned model (both arms, every seed)."""
    finetuned: dict[str, Path] = run.state["finetuned"]
    lm_dir = build_language_model(run, next(iter(finetuned.values())))
    evaluation: dict[str, Any] = {}
    for index, (name, model_dir) in enumerate(finetuned.items(), start=1):
        print(
            f"  [{index}/{len(finetuned)}] decoding {name}: dev and test, greedy and {LM_ORDER}-gram LM",
            flush=True,
        )
        scores = decode_model(run, model_dir, lm_dir)
        evaluation[name] = scores
        print(
            "      "
            + "; ".join(
                f"{split} CER/WER greedy {scores[split]['greedy']['cer']:.3f}/{scores[split]['greedy']['wer']:.3f}, "
                f"LM {scores[split]['lm']['cer']:.3f}/{scores[split]['lm']['wer']:.3f}"
                for split in EVAL_SPLITS
            )
            + f" (alpha {scores['alpha']:g}, beta {scores['beta']:g})",
            flush=True,
        )
    run.state["evaluation"] = evaluation
    run.state["lm_dir"] = lm_dir
    return {"lm_dir": lm_dir, "models": evaluation}


__all__ = ["DATASET_NAMES", "EVAL_SPLITS", "LM_ORDER", "decode_model", "decode_step"]
