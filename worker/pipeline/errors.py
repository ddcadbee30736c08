"""The exception tree of newswire.

    NewswireError
    ├── PermanentError            retrying cannot help: dead-letter at once
    │   ├── InvalidPayload        the message does not fit the contract
    │   │   └── PayloadTooLarge   over the configured size limit
    │   ├── ParseError            the payload could not be parsed
    │   │   └── NotAnArticle      parsed, but it is not a news article
    │   └── ModelError            the classifier artifact is missing or incompatible
    └── TransientError            may succeed later: retry with backoff
        └── StoreUnavailable      Redis could not be reached while storing

Every error carries a short machine-readable ``reason`` (stored in the
dead-letter stream) and a human message.
"""

from __future__ import annotations

__all__ = [
    "InvalidPayload",
    "ModelError",
    "NewswireError",
    "NotAnArticle",
    "ParseError",
    "PayloadTooLarge",
    "PermanentError",
    "StoreUnavailable",
    "TransientError",
]


class NewswireError(Exception):
    """Base of every error newswire raises on purpose."""

    reason: str = "error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason

    @property
    def message(self) -> str:
        return str(self)


class PermanentError(NewswireError):
    """The same input will fail the same way: do not retry."""

    reason = "permanent"


class TransientError(NewswireError):
    """A dependency failed; the same input may succeed later."""

    reason = "transient"


class InvalidPayload(PermanentError):
    reason = "invalid_payload"


class PayloadTooLarge(InvalidPayload):
    reason = "payload_too_large"


class ParseError(PermanentError):
    reason = "parse_error"


class NotAnArticle(ParseError):
    reason = "not_an_article"


class ModelError(PermanentError):
    reason = "model_error"


class StoreUnavailable(TransientError):
    reason = "store_unavailable"
