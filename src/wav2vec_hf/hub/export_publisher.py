"""``--push_to_hub`` for the pretraining loop: each export is uploaded in the background.

The loop knows nothing of the Hub: ``run_pretraining(config, export_publisher=publisher_for)`` (the
``pretrain`` command wires it) hands each export folder to the publisher ``publisher_for`` made.

The loop never waits for the network while it trains: an export (``--export_steps`` and the final
one) is planned at once (``wav2vec_hf.hub.plan_upload``: weights, config, feature extractor, remote
code for wav2vec / vq-wav2vec, the generated model card) and committed by a single background
thread, one commit per export, in the order they were made. A failed upload is logged (token
scrubbed) and training goes on (an export that cannot even be planned counts as a failed upload);
``finish`` waits for the queue at the end of the run and raises ``UploadsFailedError`` (a
``PublishError``) naming every export that did not reach the Hub, so a run never ends "successfully"
with a stale Hub repo. Only the main process publishes.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from wav2vec_hf.hub.cards import CardOptions
from wav2vec_hf.hub.plan import plan_upload
from wav2vec_hf.hub.publish import PublishError, PublishResult, check_repo_id, push_plan, upload_token

logger = logging.getLogger(__name__)


class UploadsFailedError(PublishError):
    """Some exports did not reach the Hub; the run itself finished and the exports are on disk.

    Attributes:
        failed: the export folders that were not uploaded, in order.
    """

    def __init__(self, message: str, failed: list[Path]) -> None:
        super().__init__(message)
        self.failed = failed


@dataclass
class ExportPublisher:
    """Uploads export folders to ``repo_id`` in the background, one commit per export.

    Args:
        repo_id: ``org/name`` on the Hub.
        private: create the repo private (an existing repo keeps its visibility).
        revision: branch to commit to (default main).
        endpoint: Hub URL (default huggingface_hub's ``HF_ENDPOINT``).
    """

    repo_id: str
    private: bool = False
    revision: str | None = None
    endpoint: str | None = None
    _executor: ThreadPoolExecutor = field(init=False, repr=False)
    _pending: list[tuple[str, Path, Future]] = field(init=False, default_factory=list, repr=False)

    def __post_init__(self) -> None:
        check_repo_id(self.repo_id)
        # Refuse at the start, not after hours of training.
        upload_token(option="--push_to_hub")
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-upload")

    def submit(self, export_dir: Path, update: int) -> Future:
        """Plan ``export_dir`` now (its files must not change afterwards) and upload it in the background."""
        message = f"Pretraining export at update {update} (wav2vec-hf)"
        try:
            plan = plan_upload(export_dir, CardOptions(repo_id=self.repo_id))
        except (ValueError, OSError) as error:  # e.g. a damaged export: counted as a failed upload
            future: Future = Future()
            future.set_exception(error)
        else:
            future = self._executor.submit(
                push_plan,
                plan,
                self.repo_id,
                private=self.private,
                revision=self.revision,
                commit_message=message,
                endpoint=self.endpoint,
            )
        future.add_done_callback(lambda done, name=message: self._log(name, done))
        self._pending.append((message, Path(export_dir), future))
        return future

    @staticmethod
    def _log(message: str, future: Future) -> None:
        error = future.exception()
        if error is None:
            logger.info("pushed to the Hub: %s (%s)", message, future.result().commit_url)
        else:  # PublishError messages are already free of the token
            logger.warning("Hub upload failed, training goes on: %s: %s", message, error)

    def finish(self) -> list[PublishResult]:
        """Wait for every queued upload; their results in order.

        Raises:
            UploadsFailedError: one or more uploads failed; one line naming each export folder that
                did not reach the Hub, with its reason, and the command that pushes it.
        """
        self._executor.shutdown(wait=True)
        results, failures, failed = [], [], []
        for _, export_dir, future in self._pending:
            error = future.exception()
            if error is None:
                results.append(future.result())
            else:
                failed.append(export_dir)
                failures.append(f"{export_dir} ({' '.join(str(error).split())})")
        if failures:
            raise UploadsFailedError(
                f"{len(failures)} of {len(self._pending)} exports did not reach {self.repo_id}: "
                + "; ".join(failures)
                + f"; they are on disk: push each with `wav2vec-hf push-to-hub DIR --repo-id {self.repo_id}`",
                failed,
            )
        return results


def publisher_for(training) -> ExportPublisher | None:
    """The background uploader a run's ``TrainingArguments`` ask for (``--push_to_hub``), or ``None``.

    Raises:
        PublishError: offline, or no token (refused before training starts).
        ValueError: ``--hub_model_id`` is missing or not ``org/name``.
    """
    if not training.push_to_hub:
        return None
    return ExportPublisher(
        training.hub_model_id, private=training.hub_private_repo, revision=training.hub_revision
    )


__all__ = ["ExportPublisher", "UploadsFailedError", "publisher_for"]
