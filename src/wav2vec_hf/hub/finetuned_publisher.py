"""``finetune --push_to_hub``: the fine-tuned folder goes to the Hub through the package's publisher.

Fine-tuning knows no Hub: ``finetune_ctc(..., hub_publisher=publisher_for)`` (the ``finetune`` command
wires it) calls ``publisher_for(training_args)`` before training and hands the finished folder to the
publisher it returned.

The stock ``Trainer`` would push on its own (at every ``save_model`` and checkpoint, with
``hub_strategy``): its own model card and every file of ``output_dir``, ``training_args.bin`` (a
pickle) included. Instead, ``hub_target`` takes the Hub settings out of the training arguments
before the ``Trainer`` exists (``push_to_hub`` is switched off there, so the ``Trainer`` never
pushes) and checks them at the start, not after hours of training: the repo id (``--hub_model_id``,
default the name of ``output_dir``, in the token's namespace when no ``org/`` is given), a token
(``--hub_token``, else ``HF_TOKEN`` or the saved login) and that huggingface_hub is not offline.
``push_finetuned`` then publishes the finished folder once with ``hub.plan_upload`` (safetensors,
config, processor, records, plots and the package's model card; pickles, checkpoints and logs left
out) and ``hub.push_plan`` (one commit; the token scrubbed from all output and never logged).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from wav2vec_hf.hub.cards import CardOptions
from wav2vec_hf.hub.plan import plan_upload
from wav2vec_hf.hub.publish import PublishError, PublishResult, check_repo_id, push_plan, upload_token
from wav2vec_hf.hub.redaction import hidden_secret, redact

logger = logging.getLogger(__name__)

COMMIT_MESSAGE = "Fine-tuned CTC model (wav2vec-hf)"


@dataclass(frozen=True)
class HubTarget:
    """Where ``push_finetuned`` publishes.

    Attributes:
        repo_id: ``org/name``.
        private: create the repo private; ``None``: the Hub's default for the namespace.
        revision: the branch (default main).
        token: the token to upload with (never shown: not in ``repr``, scrubbed from output).
    """

    repo_id: str
    private: bool | None = None
    revision: str | None = None
    token: str | None = field(default=None, repr=False)


def hub_target(training_args) -> HubTarget | None:
    """The Hub target of ``--push_to_hub`` (None without it, and in every process but the main one),
    checked now; turns the ``Trainer``'s own pushing off (``training_args.push_to_hub = False``).

    Raises:
        PublishError: huggingface_hub is offline, no token is found, or the repo id is not valid
            (the message names the option and the fix; never the token).
    """
    if not training_args.push_to_hub:
        return None
    if training_args.process_index != 0:  # only the main process publishes
        training_args.push_to_hub = False
        return None
    token = upload_token(
        training_args.hub_token,
        option="--push_to_hub",
        offline_fix="unset it, or fine-tune without --push_to_hub and publish later with `wav2vec-hf push-to-hub`",
        token_fix="set HF_TOKEN, run `hf auth login`, or pass --hub_token",
    )
    repo_id = training_args.hub_model_id or Path(training_args.output_dir).resolve().name
    if "/" not in repo_id:
        repo_id = f"{_namespace(token)}/{repo_id}"
    check_repo_id(repo_id)
    strategy = str(getattr(training_args.hub_strategy, "value", training_args.hub_strategy))
    if strategy != "every_save":
        logger.info("--hub_strategy %s: wav2vec-hf pushes the finished model once, with its card", strategy)
    training_args.push_to_hub = False  # the Trainer must not push its card and training_args.bin
    return HubTarget(
        repo_id=repo_id,
        private=training_args.hub_private_repo,
        revision=getattr(training_args, "hub_revision", None),
        token=token,
    )


def push_finetuned(
    output_dir: str | Path, target: HubTarget, options: CardOptions | None = None
) -> PublishResult:
    """Publish the fine-tuned ``output_dir`` to ``target`` in one commit, with the package's card.

    ``options``: the card's settings (``repo_id`` is the target's).

    Raises:
        PublishError: the Hub refused a request (token scrubbed from the message).
        PlanError, ArtefactError, WeightsError: the folder cannot be published as it is.
    """
    options = dataclasses.replace(options or CardOptions(), repo_id=target.repo_id)
    plan = plan_upload(output_dir, options)
    result = push_plan(
        plan,
        target.repo_id,
        private=target.private,
        revision=target.revision,
        commit_message=COMMIT_MESSAGE,
        token=target.token,
    )
    logger.info(
        "pushed %d files to %s@%s: %s", len(result.files), result.repo_id, result.revision, result.commit_url
    )
    return result


def publisher_for(training_args) -> Callable[[Path], PublishResult] | None:
    """The publisher of ``--push_to_hub`` (``None`` without it and on every process but the main
    one): ``hub_target`` checked now, then ``output_dir -> push_finetuned(output_dir, target)``.

    Raises:
        PublishError: as ``hub_target``.
    """
    target = hub_target(training_args)
    if target is None:
        return None
    return functools.partial(_push_to, target)


def _push_to(target: HubTarget, output_dir: str | Path) -> PublishResult:
    return push_finetuned(output_dir, target)


def _namespace(token: str) -> str:
    """The user name of ``token`` (for a ``--hub_model_id`` without ``org/``), asked from the Hub."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    try:
        with hidden_secret(token):
            return HfApi(token=token).whoami()["name"]
    except (HfHubHTTPError, OSError, KeyError) as error:
        raise PublishError(
            redact(
                f"--push_to_hub: cannot find the token's user name ({type(error).__name__}: {error}); "
                "give --hub_model_id as org/name",
                token,
            )
        ) from None


__all__ = ["COMMIT_MESSAGE", "HubTarget", "hub_target", "publisher_for", "push_finetuned"]
