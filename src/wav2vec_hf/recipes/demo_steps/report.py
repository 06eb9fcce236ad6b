"""Demo steps: print and save the claims table and the plots; then check the pretraining claim."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wav2vec_hf.recipes.demo_steps.claims import build_table, check_pretraining_beats_scratch, table_markdown
from wav2vec_hf.recipes.demo_steps.environment import write_json
from wav2vec_hf.recipes.demo_steps.plots import plot_error_rates, plot_pretraining_curves

if TYPE_CHECKING:
    from wav2vec_hf.recipes.demo_steps.run import DemoRun

TABLE_MARKDOWN = "claims.md"
TABLE_JSON = "claims.json"


def report_step(run: DemoRun) -> dict[str, Any]:
    """Build the table from the decode (and self-training) results; save it and the PNG plots."""
    self_training = run.state.get("self_training")
    note = None
    if self_training is None:
        note = "skipped (--skip-self-training)" if run.options.get("skip_self_training") else "not run"
    table = build_table(run.state["evaluation"], self_training, note)
    table["scale"] = run.scale.name
    table["device"] = run.device
    markdown = table_markdown(table)
    heading = f"# wav2vec-hf demo, scale {run.scale.name} ({run.device}): the papers' claims at toy scale\n\n"
    markdown_path = run.output_dir / TABLE_MARKDOWN
    markdown_path.write_text(heading + markdown, encoding="utf-8")
    json_path = write_json(run.output_dir / TABLE_JSON, table)
    plots = {
        "pretraining_curves": plot_pretraining_curves(
            run.state.get("pretraining_metrics", {}),
            run.output_dir / "plots" / "pretraining_curves.png",
            chance=run.state.get("chance_accuracy"),
        ),
        "error_rates": plot_error_rates(table, run.output_dir / "plots" / "error_rates.png"),
    }
    print("\n" + markdown, flush=True)
    print(f"  table: {markdown_path} and {json_path}", flush=True)
    for name, path in plots.items():
        print(f"  plot ({name.replace('_', ' ')}): {path}", flush=True)
    loop_curves = run.state["pretrained"] / "plots" / "curves.png"
    if loop_curves.is_file():
        print(f"  plot (every wav2vec 2.0 pretraining metric, by the loop): {loop_curves}", flush=True)
    run.state["table"] = table
    return {
        "table_markdown": markdown_path,
        "table_json": json_path,
        "plots": plots,
        "claims": table["claims"],
    }


def claim_check_step(run: DemoRun) -> dict[str, Any]:
    """Fail unless pretrained beats scratch on mean dev CER (greedy); ``--no-claim-check`` only reports."""
    rows = run.state["table"]["rows"]
    pretrained = next(r for r in rows if r["model"] == "pretrained" and r["decoder"] == "greedy")
    scratch = next(r for r in rows if r["model"] == "from scratch" and r["decoder"] == "greedy")
    numbers = {
        "pretrained_dev_cer": pretrained["dev_cer_per_seed"],
        "scratch_dev_cer": scratch["dev_cer_per_seed"],
    }
    if not run.options.get("check_claim", True):
        print(
            f"  not checked (--no-claim-check): pretrained {pretrained['dev_cer']:.3f} vs scratch "
            f"{scratch['dev_cer']:.3f} mean dev CER",
            flush=True,
        )
        return {"checked": False, **numbers}
    reduction = check_pretraining_beats_scratch(numbers["pretrained_dev_cer"], numbers["scratch_dev_cer"])
    print(
        f"  shown: pretrained {pretrained['dev_cer']:.3f} vs scratch {scratch['dev_cer']:.3f} mean dev CER "
        f"({100 * reduction:.1f}% relative reduction)",
        flush=True,
    )
    return {"checked": True, "relative_reduction": reduction, **numbers}


__all__ = ["TABLE_JSON", "TABLE_MARKDOWN", "claim_check_step", "report_step"]
