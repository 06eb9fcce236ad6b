"""Publish a model folder to the Hugging Face Hub, or write the folder that would be published.

``push_plan(plan, repo_id)`` uploads an ``UploadPlan`` (see ``plan``) in one commit:
``create_repo(exist_ok=True)``, ``create_branch`` for a ``revision`` other than main, then
``create_commit`` with one ``CommitOperationAdd`` per planned file. The token is found the way
huggingface_hub finds it (``HF_TOKEN``, then the file ``hf auth login`` writes) and is never
printed: it is scrubbed from all output while the upload runs and from error messages.
The endpoint is huggingface_hub's (``HF_ENDPOINT``) unless ``endpoint`` is given.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import CommitOperationAdd, HfApi, constants, get_token
from huggingface_hub.errors import HfHubHTTPError, HFValidationError
from huggingface_hub.utils import validate_repo_id

from wav2vec_hf.errors import Wav2VecHFError
from wav2vec_hf.hub.cards import CardOptions
from wav2vec_hf.hub.plan import UploadPlan, plan_upload
from wav2vec_hf.hub.redaction import hidden_secret, redact

logger = logging.getLogger(__name__)
DEFAULT_REVISION = "main"


class PublishError(Wav2VecHFError, RuntimeError):
    """The upload could not be done; the message says why (the token is never in it)."""


@dataclass(frozen=True)
class PublishResult:
    """What was published.

    Attributes:
        repo_id: the Hub repo.
        revision: the branch committed to.
        commit_url: the commit's URL.
        commit_oid: the commit's hash.
        files: the uploaded repo paths.
        url: the repo's URL.
    """

    repo_id: str
    revision: str
    commit_url: str
    commit_oid: str
    files: tuple[str, ...]
    url: str


def check_repo_id(repo_id: str) -> str:
    """``repo_id`` if it is a valid ``org/name`` Hub id, else a ``PublishError`` saying what is wrong."""
    if repo_id.count("/") != 1:
        raise PublishError(
            f"--repo-id {repo_id!r}: give it as org/name (your user name or an organisation, then the repo name)."
        )
    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise PublishError(f"--repo-id {repo_id!r}: {error}") from None
    return repo_id


def upload_token(
    token: str | None = None,
    *,
    option: str | None = None,
    offline_fix: str = "unset it",
    token_fix: str = "set HF_TOKEN or run `hf auth login`",
) -> str:
    """The token an upload will use, checked before any work is done: huggingface_hub is online and a
    token is found (``token``, else ``HF_TOKEN`` or the saved login).

    Args:
        option: the command-line option that asked for the upload; starts the message.
        offline_fix, token_fix: what the user can do, ending each message.

    Raises:
        PublishError: offline, or no token (the message never holds a token).
    """
    prefix = f"{option}: " if option else ""
    if constants.HF_HUB_OFFLINE:
        raise PublishError(
            f"{prefix}HF_HUB_OFFLINE is set (or TRANSFORMERS_OFFLINE), so nothing can be uploaded; {offline_fix}."
        )
    token = token or get_token()
    if not token:
        raise PublishError(f"{prefix}no Hugging Face token found: {token_fix}.")
    return token


def push_plan(
    plan: UploadPlan,
    repo_id: str,
    *,
    private: bool | None = False,
    revision: str | None = None,
    commit_message: str | None = None,
    token: str | None = None,
    endpoint: str | None = None,
) -> PublishResult:
    """Upload ``plan``'s files to ``repo_id`` in one commit.

    Args:
        plan: the files (``plan_upload``).
        repo_id: ``org/name``.
        private: create the repo private (an existing repo keeps its visibility); ``None``: the
            Hub's default visibility of the namespace.
        revision: the branch to commit to (created from main if missing); default main.
        commit_message: default "Upload <kind> model with wav2vec-hf".
        token: default: huggingface_hub's ``get_token()`` (``HF_TOKEN`` or the saved login).
        endpoint: the Hub URL; default huggingface_hub's (``HF_ENDPOINT`` or huggingface.co).

    Raises:
        PublishError: offline mode, no token, a bad repo id, or the Hub refused a request.
    """
    check_repo_id(repo_id)
    token = upload_token(
        token,
        offline_fix="unset it to upload, or use --dry-run to write the folder that would be uploaded",
        token_fix="set HF_TOKEN or run `hf auth login` (a token with write access)",
    )
    branch = revision or DEFAULT_REVISION
    message = commit_message or f"Upload {plan.artefact.kind} model with wav2vec-hf"
    with hidden_secret(token):
        try:
            api = HfApi(endpoint=endpoint, token=token)
            repo_url = api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
            if branch != DEFAULT_REVISION:
                api.create_branch(repo_id, branch=branch, repo_type="model", exist_ok=True)
            operations = [
                CommitOperationAdd(path_in_repo=planned.path_in_repo, path_or_fileobj=planned.read_bytes())
                if planned.content is not None
                else CommitOperationAdd(
                    path_in_repo=planned.path_in_repo, path_or_fileobj=str(planned.source)
                )
                for planned in plan.files
            ]
            info = api.create_commit(
                repo_id, operations=operations, commit_message=message, repo_type="model", revision=branch
            )
        except (HfHubHTTPError, OSError, ValueError) as error:
            # `from None`: the chained original could carry the token in its text.
            raise PublishError(redact(f"upload to {repo_id} failed: {_describe(error)}", token)) from None
    return PublishResult(
        repo_id=repo_id,
        revision=branch,
        commit_url=str(info.commit_url),
        commit_oid=str(info.oid),
        files=tuple(plan.paths),
        url=str(repo_url),
    )


def push_folder(
    folder: str | Path, repo_id: str, options: CardOptions | None = None, **push_options
) -> PublishResult:
    """``plan_upload`` then ``push_plan``: publish ``folder`` with its generated card.

    ``options.repo_id`` defaults to ``repo_id`` (the card's snippet loads it); ``push_options`` are
    ``push_plan``'s (private, revision, commit_message, token, endpoint).
    """
    options = options or CardOptions()
    if options.repo_id is None:
        options = dataclasses.replace(options, repo_id=repo_id)
    return push_plan(plan_upload(folder, options), repo_id, **push_options)


def write_dry_run(plan: UploadPlan, destination: str | Path, overwrite: bool = False) -> Path:
    """Write exactly the files ``push_plan`` would upload into ``destination``."""
    return plan.write(destination, overwrite=overwrite)


def _describe(error: Exception) -> str:
    if isinstance(error, HfHubHTTPError) and error.response is not None:
        status = error.response.status_code
        hint = {
            401: " (the token is invalid or expired: log in again)",
            403: " (the token cannot write to this namespace: use a write token, or your own user name)",
            404: " (the repo or branch does not exist, or the token cannot see it)",
        }.get(status, "")
        return f"{error}{hint}"
    return f"{type(error).__name__}: {error}"


__all__ = ["PublishError", "PublishResult", "check_repo_id", "push_folder", "push_plan", "write_dry_run"]
