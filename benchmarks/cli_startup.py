"""Start-up time of the command line: ``wav2vec-hf --help`` and ``wav2vec-hf COMMAND --help``.

Each help runs ``--repeats`` times as a fresh ``python -m wav2vec_hf ...`` process (the console
script does the same import work); the fastest wall time counts, as does the CPU time of that child
(user + system, from ``resource.getrusage(RUSAGE_CHILDREN)``), which says more than wall time on a
busy machine. The goal is 1.5 s or less; ``finetune`` and ``pretrain`` print the help text stored
in the package when it was made with the installed transformers (``cli_help``), and otherwise build
transformers' ``HfArgumentParser`` over ``TrainingArguments``, paying for importing transformers and
torch. Also reported: the imports of the parser-building path (``build_parser``),
which should hold no torch / transformers / datasets. The last line is one JSON object.

    python benchmarks/cli_startup.py                 # every command, best of 3
    python benchmarks/cli_startup.py --repeats 5 --commands evaluate finetune
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

GOAL_SECONDS = 1.5
HEAVY = ("torch", "transformers", "datasets")


def command_names() -> list[str]:
    """Every ``wav2vec-hf`` command, from the parser itself."""
    from wav2vec_hf.cli import _command_parsers, build_parser

    return sorted(_command_parsers(build_parser()))


def run_once(argv: list[str]) -> tuple[float, float]:
    """``(wall seconds, child CPU seconds)`` of ``python -m wav2vec_hf ARGV``; raises on a non-zero exit."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "wav2vec_hf", *argv], capture_output=True, text=True, env=_environment()
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(f"wav2vec-hf {' '.join(argv)} exited {result.returncode}: {result.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def heavy_imports_of_the_parser() -> list[str]:
    """The heavy modules imported by ``import wav2vec_hf.cli; build_parser()`` in a fresh process."""
    code = (
        "import json, sys, wav2vec_hf.cli; wav2vec_hf.cli.build_parser(); "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_environment())
    return json.loads(out.stdout.strip().splitlines()[-1])


def _environment() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per help; the fastest counts")
    parser.add_argument("--commands", nargs="*", default=None, help="commands to time (default: all)")
    args = parser.parse_args()

    cases = [[]] + [[name] for name in (args.commands or command_names())]
    rows = []
    for case in cases:
        runs = [run_once([*case, "--help"]) for _ in range(args.repeats)]
        wall, cpu = min(runs)
        rows.append({"command": " ".join(["wav2vec-hf", *case, "--help"]), "wall_s": wall, "cpu_s": cpu})

    width = max(len(row["command"]) for row in rows)
    print(f"{'command':<{width}}  {'wall s':>7}  {'cpu s':>6}  goal {GOAL_SECONDS} s")
    for row in rows:
        verdict = "ok" if row["wall_s"] <= GOAL_SECONDS else f"+{row['wall_s'] - GOAL_SECONDS:.2f} s"
        print(f"{row['command']:<{width}}  {row['wall_s']:7.2f}  {row['cpu_s']:6.2f}  {verdict}")
    heavy = heavy_imports_of_the_parser()
    print(f"heavy modules imported by build_parser(): {heavy or 'none'}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(
        json.dumps(
            {
                "benchmark": "cli_startup",
                "repeats": args.repeats,
                "goal_s": GOAL_SECONDS,
                "rows": rows,
                "parser_heavy_imports": heavy,
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "load_average_1min": load,
            }
        )
    )


if __name__ == "__main__":
    main()
