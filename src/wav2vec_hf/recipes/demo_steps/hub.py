"""Demo step: model cards for every model the demo trained, and the ``--dry-run`` Hub folder of the
fine-tuned model with its LM (exactly what ``wav2vec-hf push-to-hub --dry-run`` writes).

The cards read the run records the other steps wrote: ``run_config.json`` / ``pretraining_summary.json``
(pretraining), ``finetuning.json`` (fine-tuning) and ``evaluation.json`` (greedy and LM WER / CER on
dev and test, hardware).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wav2vec_hf.recipes.demo_steps.finetuning import run_directory

if TYPE_CHECKING:
    from wav2vec_hf.recipes.demo_steps.run import DemoRun

HUB_USER = "your-hub-name"
LIMITATION = (
    "Trained by `wav2vec-hf demo` on minutes of synthetic (eSpeak NG) speech: a demonstration of the "
    "pipeline, not a usable speech recogniser."
)


def hub_step(run: DemoRun) -> dict[str, Any]:
    """Render a card per model (``model_cards/``) and write the dry-run folder (``hub-dry-run/``)."""
    from wav2vec_hf.hub.cards import CardOptions, render_card
    from wav2vec_hf.hub.plan import plan_upload

    def options(name: str) -> CardOptions:
        return CardOptions(repo_id=f"{HUB_USER}/{name}", limitations=[LIMITATION])

    models = {"wav2vec2-demo-pretrained": run.state["pretrained"]}
    for name, folder in run.state.get("pretrained_family", {}).items():
        models[f"{name}-demo-pretrained"] = folder
    seed = run.seeds[0]
    published = run_directory(run, "pretrained", seed)
    models["wav2vec2-demo-ctc-lm"] = published
    cards_dir = run.output_dir / "model_cards"
    cards_dir.mkdir(parents=True, exist_ok=True)
    cards = {}
    for name, folder in models.items():
        card = render_card(folder, options(name))
        path = cards_dir / f"{name}.md"
        path.write_text(card.text, encoding="utf-8")
        cards[name] = {"card": path, "model_dir": folder, "notes": card.notes}
        print(f"  model card: {path}", flush=True)
    plan = plan_upload(published, options("wav2vec2-demo-ctc-lm"))
    destination = plan.write(run.output_dir / "hub-dry-run" / "wav2vec2-demo-ctc-lm", overwrite=True)
    print(
        f"  dry-run Hub folder: {destination} ({len(plan.files)} files, {plan.total_bytes / 1e6:.1f} MB; "
        f"{len(plan.left_out)} training files left out); upload it with "
        f"`wav2vec-hf push-to-hub {published} --repo-id YOUR_NAME/wav2vec2-demo-ctc-lm`",
        flush=True,
    )
    return {
        "cards": cards,
        "dry_run": destination,
        "files": plan.paths,
        "left_out": [f"{name}: {why}" for name, why in plan.left_out],
        "card_notes": plan.card.notes,
    }


__all__ = ["hub_step"]
