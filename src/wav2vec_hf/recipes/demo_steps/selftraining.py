"""Demo step: one round of self-training (pseudo-label the unlabelled split, fine-tune again).

The round is ``wav2vec_hf.selftraining.run_self_training``; it reuses the demo's fine-tuned
pretrained model (seed of the first run) as its stage 1 and fine-tunes with the demo's budget.
The import happens here, at run time, so the rest of the demo works while that package is missing,
and ``--skip-self-training`` skips the round.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wav2vec_hf.errors import Wav2VecHFError
from wav2vec_hf.recipes.demo_steps.finetuning import budget_arguments, run_directory

if TYPE_CHECKING:
    from wav2vec_hf.recipes.demo_steps.run import DemoRun


class SelfTrainingUnavailable(Wav2VecHFError, RuntimeError):
    """``wav2vec_hf.selftraining`` cannot be imported (the message says what to do)."""


def _import_self_training():
    try:
        from wav2vec_hf.selftraining import TABLE_KEYS, SelfTrainingConfig, run_self_training
    except ImportError as error:
        raise SelfTrainingUnavailable(
            f"the self-training package cannot be imported ({error}); rerun with --skip-self-training "
            "to run the demo without the self-training round."
        ) from error
    return SelfTrainingConfig, run_self_training, TABLE_KEYS


def self_training_step(run: DemoRun) -> dict[str, Any]:
    """One self-training round from the first pretrained fine-tuned model; returns its rows."""
    if run.options.get("skip_self_training"):
        print("  skipped (--skip-self-training)", flush=True)
        return {"skipped": True, "reason": "--skip-self-training"}
    config_class, run_self_training, row_keys = _import_self_training()
    seed = run.seeds[0]
    corpus = run.corpus_dir
    config = config_class(
        pretrained=str(run.state["pretrained"]),
        labeled=str(corpus / "labeled.tsv"),
        unlabeled=str(corpus / "unlabeled.tsv"),
        dev=str(corpus / "dev.tsv"),
        test=str(corpus / "test.tsv"),
        lm_text=[str(corpus / "lm_text.txt")],
        output_dir=str(run.output_dir / "self-training"),
        rounds=1,
        seed=seed,
        finetuned=str(run_directory(run, "pretrained", seed)),
        finetune_args=budget_arguments(run),
    )
    result = run_self_training(config, progress=True)
    rows = [dict(row) for row in result.rounds]
    missing = sorted({key for row in rows for key in row_keys if key not in row})
    if not rows or missing:
        raise ValueError(
            f"run_self_training returned rows without {missing or 'any row'}; expected the keys {', '.join(row_keys)}."
        )
    for row in rows:
        print(
            f"  round {row['round']}: dev CER/WER greedy {row['dev_cer_greedy']:.3f}/{row['dev_wer_greedy']:.3f}, "
            f"LM {row['dev_cer_lm']:.3f}/{row['dev_wer_lm']:.3f}; pseudo-labels kept "
            f"{row['pseudo_labels_kept']}/{row['pseudo_labels_total']}",
            flush=True,
        )
    run.state["self_training"] = {"seed": seed, "rows": rows}
    return {"seed": seed, "rounds": rows}


__all__ = ["SelfTrainingUnavailable", "self_training_step"]
