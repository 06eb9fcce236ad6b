"""Keep the Hub token out of everything this process writes while it talks to the Hub.

huggingface_hub never logs the token itself, but a server's error or warning text is passed on
verbatim (warnings, exception messages, log records), and a server (or a proxy in between) may echo
what it received. While ``hidden_secret(token)`` is active, every write to ``sys.stdout`` /
``sys.stderr`` and every log record handled by a registered handler has the token replaced by
``REDACTED``, and warnings are held back and re-issued scrubbed when the block ends (a warnings
handler, such as pytest's, would otherwise keep the original text); ``redact(text, token)`` scrubs
exception messages before they are re-raised.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import warnings
from collections.abc import Iterator

REDACTED = "<redacted token>"


def redact(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` replaced (unchanged when there is no secret)."""
    if not secret:
        return text
    return text.replace(secret, REDACTED)


class _RedactingStream(io.TextIOBase):
    """A text stream that scrubs the secret from what is written, then passes it on."""

    def __init__(self, stream, secret: str):
        self._stream = stream
        self._secret = secret

    def write(self, text: str) -> int:
        self._stream.write(redact(text, self._secret))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    @property
    def encoding(self):  # tqdm and warnings ask for it
        return getattr(self._stream, "encoding", "utf-8")

    def fileno(self) -> int:
        return self._stream.fileno()

    def __getattr__(self, name: str):
        # Anything else (``buffer``, ``errors``, ...) is the wrapped stream's; byte writes to
        # ``buffer`` bypass the scrubbing, but neither huggingface_hub nor tqdm makes them.
        return getattr(self._stream, name)


class _RedactingFilter(logging.Filter):
    """Rewrites a record's message with the secret scrubbed (handler-level: sees propagated records)."""

    def __init__(self, secret: str):
        super().__init__()
        self._secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._secret in message:
            record.msg, record.args = redact(message, self._secret), None
        if record.exc_info and record.exc_info[1] is not None and self._secret in str(record.exc_info[1]):
            record.exc_info = None  # its text would carry the secret; the message above stays
            record.exc_text = None
        return True


@contextlib.contextmanager
def hidden_secret(secret: str | None) -> Iterator[None]:
    """Scrub ``secret`` from stdout, stderr and every logging handler while the block runs."""
    if not secret:
        yield
        return
    log_filter = _RedactingFilter(secret)
    handlers = _all_handlers()
    for handler in handlers:
        handler.addFilter(log_filter)
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _RedactingStream(stdout, secret), _RedactingStream(stderr, secret)
    held: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")  # hold every warning; the re-issue below obeys the user's filters
            try:
                yield
            finally:
                held = list(caught)
    finally:
        sys.stdout, sys.stderr = stdout, stderr
        for handler in handlers:
            handler.removeFilter(log_filter)
        for warning in held:
            warnings.warn_explicit(
                redact(str(warning.message), secret), warning.category, warning.filename, warning.lineno
            )


def _all_handlers() -> list[logging.Handler]:
    loggers = [logging.getLogger()] + [
        logger for logger in logging.root.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    return list({id(handler): handler for logger in loggers for handler in logger.handlers}.values())


__all__ = ["REDACTED", "hidden_secret", "redact"]
