"""Helpers of ``gpu_check.sh``: the environment probe, the demo's report, part 2's variant, the summary.

python benchmarks/gpu_check_report.py env FILE
python benchmarks/gpu_check_report.py best-variant PART1_JSON
python benchmarks/gpu_check_report.py demo --demo-dir DIR --out OUT --seconds S --rc RC
python benchmarks/gpu_check_report.py summary --out OUT --status TSV --env FILE --budget B --used S
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import os
import platform
import shutil
import sys
from pathlib import Path

# Distributions whose versions the probe records, and modules it imports (what each part needs).
DISTRIBUTIONS = (
    "torch", "transformers", "huggingface_hub", "tokenizers", "accelerate", "safetensors", "numpy",
    "soundfile", "cffi", "soxr", "kenlm", "espeakng-loader", "datasets", "evaluate", "dill",
    "multiprocess", "pyarrow", "fsspec", "pandas", "matplotlib", "tensorboard", "sentencepiece",
    "triton",
)  # fmt: skip
IMPORTS = {
    "part 1/2 (pretraining loader)": ["soundfile", "soxr", "wav2vec_hf.pretraining.data", "wav2vec_hf.pretraining.wav2vec2_objective"],
    "part 3 (demo)": ["espeakng_loader", "datasets", "evaluate", "kenlm", "wav2vec_hf.recipes.demo", "wav2vec_hf.finetuning.ctc"],
    "part 4 (CTC + LM)": ["kenlm", "wav2vec_hf.decoding.parallel", "wav2vec_hf.decoding.inference"],
}  # fmt: skip
PART_FILES = {
    "part1": "part1_base.json",
    "part2": "part2_large.json",
    "part3": "part3_demo.json",
    "part4": "part4_ctc.json",
}
PART_TITLES = {
    "setup": "wheels + environment probe",
    "part1": "1. BASE pretraining, real loader (ours vs stock)",
    "part2": "2. LARGE-LV60 pretraining, 4 x 20 s (ours vs stock)",
    "part3": "3. demo end to end",
    "part4": "4. BASE CTC inference + LM decoding",
}


def probe_env(path: Path) -> None:
    record: dict = {
        "python": platform.python_version(),
        "executable": sys.executable,
        "versions": {},
        "imports": {},
    }
    for name in DISTRIBUTIONS:
        try:
            record["versions"][name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            record["versions"][name] = None
    for part, modules in IMPORTS.items():
        for module in modules:
            try:
                importlib.import_module(module)
                record["imports"][module] = "ok"
            except Exception as error:
                record["imports"][module] = f"{type(error).__name__}: {str(error)[:300]}"
        record.setdefault("parts_blocked", {})[part] = [m for m in modules if record["imports"][m] != "ok"]
    try:
        import torch

        record["cuda_available"] = torch.cuda.is_available()
        if torch.cuda.is_available():
            record["gpu"] = torch.cuda.get_device_name()
            record["gpu_memory_gib"] = torch.cuda.get_device_properties(0).total_memory / 2**30
            record["cuda"] = torch.version.cuda
    except Exception as error:
        record["torch_error"] = str(error)
    path.write_text(json.dumps(record, indent=1))
    bad = {m: s for m, s in record["imports"].items() if s != "ok"}
    print(
        f"env: python {record['python']}, torch {record['versions']['torch']}, transformers "
        f"{record['versions']['transformers']}, gpu {record.get('gpu', '-')}"
    )
    for module, status in bad.items():
        print(f"env: cannot import {module}: {status}")


def best_variant(path: Path) -> None:
    """The fastest of our variants in part 1's record (``ours`` when there is none)."""
    try:
        record = json.loads(path.read_text())
        print(record.get("best", {}).get("variant") or "ours")
    except (OSError, ValueError):
        print("ours")


def demo_report(demo_dir: Path, out: Path, seconds: float, rc: int, scale: str) -> None:
    """``part3_demo.json`` from the demo's ``results.json`` and claims; claims.md/.json copied to OUT."""
    record: dict = {"benchmark": "demo", "scale": scale, "output_dir": str(demo_dir), "rc": rc,
                    "wall_seconds": seconds, "timed_out": rc in (124, 137)}  # fmt: skip
    results_path = demo_dir / "results.json"
    if results_path.is_file():
        results = json.loads(results_path.read_text())
        demo = results.pop("demo", {})
        record["steps_planned"] = demo.get("steps", [])
        record["step_seconds"] = {title: value.get("seconds") for title, value in results.items()}
        record["steps_done"] = len(record["step_seconds"])
        record["demo_seconds"] = demo.get("seconds")
        record["failed_step"] = demo.get("failed_step")
        record["device"] = demo.get("device")
    for name in ("claims.md", "claims.json"):
        source = demo_dir / name
        if source.is_file():
            shutil.copyfile(source, out / name)
            record[name.replace(".", "_")] = (
                json.loads(source.read_text()) if name.endswith(".json") else source.read_text()
            )
    record["finished"] = rc == 0 and "claims_md" in record
    (out / PART_FILES["part3"]).write_text(json.dumps(record, indent=1, default=str))


def _load(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _fmt(value, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _pretraining_figures(record: dict) -> tuple[str, dict]:
    best = record.get("best") or {}
    stock = (record.get("results") or {}).get("stock") or {}
    goal = record.get("goal_audio_seconds_per_second")
    config = record.get("config") or {}
    parts = [
        f"{config.get('preset', '?')} {config.get('batch_size', '?')} x {config.get('num_samples', '?')}"
        f" {config.get('dtype', '')}",
        f"ours[{best.get('variant', '-')}] {_fmt(best.get('audio_seconds_per_second'))} audio-s/s with loader"
        f" ({_fmt(best.get('no_loader_audio_seconds_per_second'))} without)",
        f"MFU {_fmt(100 * best['mfu'], 1) + '%' if best.get('mfu') is not None else '-'}",
        f"peak {_fmt(best.get('peak_memory_gib'), 1)} GiB",
        f"stock {_fmt(stock.get('audio_seconds_per_second'))}",
    ]
    if record.get("speedup_vs_stock"):
        parts.append(f"x{record['speedup_vs_stock']:.2f}")
    if goal:
        met = record.get("goal_met")
        parts.append(f"goal {goal:,.0f}: {'met' if met else 'not met' if met is not None else '-'}")
    figures = {
        "device": record.get("device"),
        "best_variant": best.get("variant"),
        "audio_seconds_per_second_with_loader": record.get("audio_seconds_per_second_with_loader"),
        "no_loader_audio_seconds_per_second": best.get("no_loader_audio_seconds_per_second"),
        "mfu": best.get("mfu"),
        "peak_memory_gib": best.get("peak_memory_gib"),
        "stock_audio_seconds_per_second_with_loader": stock.get("audio_seconds_per_second"),
        "speedup_vs_stock": record.get("speedup_vs_stock"),
        "goal": goal,
        "goal_met": record.get("goal_met"),
        "variants": {
            name: (
                round(result["audio_seconds_per_second"], 1)
                if "audio_seconds_per_second" in result
                else result.get("skipped") or (result.get("error") or "")[:200] or "done"
            )
            for name, result in (record.get("results") or {}).items()
        },
    }
    timed = [
        f"{name} {value:,.0f}" for name, value in figures["variants"].items() if isinstance(value, float)
    ]
    untimed = [
        name
        for name, value in figures["variants"].items()
        if not isinstance(value, float) and name != "flops"
    ]
    if timed:
        parts.append("variants: " + ", ".join(timed))
    if untimed:
        parts.append("not timed: " + ", ".join(untimed) + " (see JSON)")
    return "; ".join(parts), figures


def _failed_step(failed: dict | None) -> str:
    if not failed:
        return ""
    return f"; step {failed.get('number')} ({failed.get('title')}) failed: {str(failed.get('error'))[:240]}"


def summary(out: Path, status_path: Path, env_path: Path, budget: float, used: float, meta: dict) -> None:
    rows = []
    for line in status_path.read_text().splitlines() if status_path.is_file() else []:
        part, status, seconds, rc, reason = (line.split("\t") + [""] * 5)[:5]
        rows.append(
            {"part": part, "status": status, "seconds": float(seconds or 0), "rc": rc, "reason": reason}
        )
    parts: dict = {}
    for row in rows:
        name = row["part"]
        entry = {k: v for k, v in row.items() if k != "part"}
        record = _load(out / PART_FILES[name]) if name in PART_FILES else None
        text = row["reason"]
        if record is not None and name in ("part1", "part2"):
            text, entry["figures"] = _pretraining_figures(record)
            if row["reason"]:
                text = f"{row['reason']}; {text}"
        elif record is not None and name == "part3":
            done = record.get("steps_done", 0)
            planned = len(record.get("steps_planned", [])) or "?"
            text = (f"{done}/{planned} steps in {_fmt(record.get('wall_seconds'))} s"
                    + ("; claims table below" if record.get("claims_md") else "; no claims table")
                    + _failed_step(record.get("failed_step")))  # fmt: skip
            entry["figures"] = {
                k: record.get(k) for k in ("steps_done", "wall_seconds", "step_seconds", "finished")
            }
            if row["reason"]:
                text = f"{row['reason']}; {text}"
        elif record is not None and name == "part4":
            stages = record.get("stages", {})

            def rate(stage, stages=stages):
                return stages.get(stage, {}).get("audio_seconds_per_second")

            text = (f"end to end {_fmt(rate('end_to_end'))} audio-s/s (files->logits {_fmt(rate('logits'))}, "
                    f"model alone {_fmt(rate('gpu_forward'))}, LM decode on {record.get('config', {}).get('decode_workers')} "
                    f"processes {_fmt(rate('decode'))})")  # fmt: skip
            entry["figures"] = {s: rate(s) for s in ("end_to_end", "logits", "gpu_forward", "decode")}
            if row["reason"]:
                text = f"{row['reason']}; {text}"
        entry["summary"] = text
        parts[name] = entry
    env = _load(env_path) or {}
    record = {
        "benchmark": "gpu_check",
        "device": env.get("gpu") or f"cpu ({platform.machine()}, {os.cpu_count()} cores)",
        "budget_seconds": budget,
        "used_seconds": used,
        **meta,
        "parts": parts,
        "env": env,
    }
    (out / "summary.json").write_text(json.dumps(record, indent=1, default=str))

    print()
    print(f"gpu_check summary: device {record['device']}, {used:.0f} s of a {budget:.0f} s budget")
    width = max(len(t) for t in PART_TITLES.values())
    print(f"{'part'.ljust(width)}  {'status':9s} {'seconds':>7s}  result")
    for name, entry in parts.items():
        title = PART_TITLES.get(name, name)
        print(f"{title.ljust(width)}  {entry['status']:9s} {entry['seconds']:7.0f}  {entry['summary']}")
    claims = out / "claims.md"
    if claims.is_file():
        print("\ndemo claims table (claims.md):")
        print(claims.read_text().rstrip())
    print(f"\nJSON: {out}/summary.json and {', '.join(PART_FILES.values())} where present")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("env").add_argument("file")
    sub.add_parser("best-variant").add_argument("file")
    demo = sub.add_parser("demo")
    demo.add_argument("--demo-dir", required=True)
    demo.add_argument("--out", required=True)
    demo.add_argument("--seconds", type=float, required=True)
    demo.add_argument("--rc", type=int, required=True)
    demo.add_argument("--scale", default="")
    final = sub.add_parser("summary")
    final.add_argument("--out", required=True)
    final.add_argument("--status", required=True)
    final.add_argument("--env", required=True)
    final.add_argument("--budget", type=float, required=True)
    final.add_argument("--used", type=float, required=True)
    final.add_argument("--meta", default="{}", help="JSON object merged into summary.json")
    args = parser.parse_args()
    if args.command == "env":
        probe_env(Path(args.file))
    elif args.command == "best-variant":
        best_variant(Path(args.file))
    elif args.command == "demo":
        demo_report(Path(args.demo_dir), Path(args.out), args.seconds, args.rc, args.scale)
    else:
        summary(
            Path(args.out), Path(args.status), Path(args.env), args.budget, args.used, json.loads(args.meta)
        )


if __name__ == "__main__":
    main()
