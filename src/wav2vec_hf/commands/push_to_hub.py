"""``wav2vec-hf push-to-hub --model DIR --repo_id org/name`` (or ``push-to-hub DIR ...``): publish a model
folder with its card (or, with ``--dry_run``, write exactly the folder that would be published)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from wav2vec_hf.cli_options import BooleanFlag, CommandParser, finish_command_parser


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options shared by this command and ``scripts/push_to_hub.py``."""
    parser.add_argument(
        "folder",
        nargs="?",
        default=None,
        metavar="DIR",
        help="a save_pretrained folder (pretrain / finetune / convert output); or --model DIR",
    )
    parser.add_argument("--model", default=None, metavar="DIR", help="the folder to publish (same as DIR)")
    parser.add_argument(
        "--repo-id", required=True, help="the Hub repo, org/name (used in the card's snippet too)"
    )
    parser.add_argument(
        "--private",
        action="store_true",
        help="create the repo private (an existing repo keeps its visibility)",
    )
    parser.add_argument(
        "--revision", default=None, metavar="BRANCH", help="branch to commit to (created if missing)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="upload nothing; write the folder that would be uploaded"
    )
    parser.add_argument(
        "--output_dir", "--output", default=None, help="the --dry_run folder (default: DIR-hub next to DIR)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --output folder")
    card = parser.add_argument_group("model card")
    card.add_argument(
        "--license",
        default=None,
        help="Hub license id (default: mit for fairseq conversions, else apache-2.0)",
    )
    card.add_argument(
        "--language", nargs="+", default=["en"], help="ISO 639 codes of the speech (default: en)"
    )
    card.add_argument(
        "--dataset",
        dest="datasets",
        action="append",
        default=[],
        help="Hub dataset id of training data (repeatable)",
    )
    card.add_argument("--base-model", default=None, help="Hub id of the model this one was fine-tuned from")
    card.add_argument(
        "--model-name", default=None, help="name in the card's model-index (default: the repo name)"
    )
    card.add_argument("--tag", dest="tags", action="append", default=[], help="extra tag (repeatable)")
    card.add_argument(
        "--results", default=None, help="evaluation results JSON (evaluation.json schema) for the card"
    )
    card.add_argument(
        "--self_trained", default=None, action=BooleanFlag,
        help="cite and tag self-training (default: when self_training.json is in DIR)",
    )  # fmt: skip
    card.add_argument("--card", default=None, help="publish this README.md instead of the generated card")
    parser.add_argument("--commit-message", default=None)
    return parser


def register(subparsers) -> None:
    """Add the ``push-to-hub`` sub-command."""
    parser = subparsers.add_parser(
        "push-to-hub",
        help="publish a model folder to the Hugging Face Hub with its model card",
        description=(
            "Publish a wav2vec / vq-wav2vec / wav2vec 2.0 folder (pretrained, CTC, CTC + n-gram LM) to the Hub: "
            "weights, config, processor (with language_model/), the remote code of wav2vec / vq-wav2vec, run "
            "records and a generated model card. The token is huggingface_hub's (HF_TOKEN or `hf auth login`) "
            "and is never printed; HF_ENDPOINT selects the Hub."
        ),
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Plan, then upload or write the dry-run folder; prints what was (or would be) published."""
    from wav2vec_hf.hub.artefacts import ArtefactError
    from wav2vec_hf.hub.cards import CardError, CardOptions
    from wav2vec_hf.hub.plan import PlanError, plan_upload
    from wav2vec_hf.hub.publish import PublishError, check_repo_id, push_plan
    from wav2vec_hf.hub.records import format_value
    from wav2vec_hf.hub.scores import ScoresError, read_results_file
    from wav2vec_hf.model_folders import WeightsError

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    folder = args.model or args.folder
    if folder is None or (args.model and args.folder and args.model != args.folder):
        problem = (
            "no model folder"
            if folder is None
            else f"two model folders ({args.folder}, --model {args.model})"
        )
        print(f"wav2vec-hf push-to-hub: error: {problem}: give DIR or --model DIR", file=sys.stderr)
        return 2
    try:
        check_repo_id(args.repo_id)
        results = read_results_file(args.results) if args.results else None
        options = CardOptions(
            repo_id=args.repo_id,
            license=args.license,
            language=list(args.language),
            datasets=list(args.datasets),
            base_model=args.base_model,
            model_name=args.model_name,
            tags=list(args.tags),
            self_trained=args.self_trained,
            results=results,
            results_source=Path(args.results).name if args.results else None,
        )
        plan = plan_upload(folder, options, card_file=args.card)
        print(f"{plan.artefact.kind} model {plan.folder} -> {args.repo_id}")
        for planned in plan.files:
            print(f"  {planned.path_in_repo:<40} {planned.role:<15} {format_value(planned.size)} bytes")
        for name, reason in plan.left_out:
            print(f"  left out: {name} ({reason})")
        if plan.remote_code and plan.remote_code.added:
            print("  added remote code: " + "; ".join(plan.remote_code.added))
        for note in plan.card.notes:
            print(f"  note: {note}")
        if args.dry_run:
            output = (
                Path(args.output_dir) if args.output_dir else plan.folder.parent / f"{plan.folder.name}-hub"
            )
            written = plan.write(output, overwrite=args.overwrite)
            print(
                f"dry run: {len(plan.files)} files ({format_value(plan.total_bytes)} bytes) written to {written}"
            )
            return 0
        result = push_plan(
            plan,
            args.repo_id,
            private=args.private,
            revision=args.revision,
            commit_message=args.commit_message,
        )
    except (ArtefactError, CardError, ScoresError, PlanError, PublishError, WeightsError) as error:
        print(f"wav2vec-hf push-to-hub: error: {error}", file=sys.stderr)
        return 2
    print(
        f"uploaded {len(result.files)} files to {result.url} (branch {result.revision}): {result.commit_url}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python scripts/push_to_hub.py ...``: the same command without the ``wav2vec-hf`` prefix."""
    parser = add_arguments(CommandParser(prog="push_to_hub.py", description=__doc__))
    return run(finish_command_parser(parser).parse_args(argv))
