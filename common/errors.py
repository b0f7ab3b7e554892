"""The project's exception tree: each leaf names one outcome, and every raise uses a leaf.

    LogoAnnError               (abstract: never raised itself)
    ├── PermanentError         the input is bad: retrying cannot help. Recorded and acknowledged
    │   │                      (not retried); the API answers 4xx.
    │   ├── BadInputError      a request parameter or body the API rejects (400)
    │   │   ├── BadQuery       a malformed query parameter, body, cursor or embedding
    │   │   ├── InvalidAnnotationError  an unknown annotation type, a missing or malformed value
    │   │   └── CommandError   a ``logo-ann`` command cannot go on: printed as one line, exit ``code``
    │   ├── UnauthorizedError  no credentials, or a wrong service token (401)
    │   ├── ForbiddenError     credentials or a URL refused (403)
    │   │   └── FetchRefused   an image URL this service will not fetch (``common.adapters.http_images``)
    │   ├── NotFoundError      an object, image or logo that does not exist (404)
    │   ├── ConflictError      a write that contradicts the current state (409)
    │   ├── InvalidImageError  not a decodable image, too large, a decompression bomb (422)
    │   ├── InvalidEventError  wrong event type, missing fields, unknown schema version (422)
    │   └── ModelError         a model whose inputs/outputs break the contract (422)
    ├── TransientError         a dependency is unreachable or timed out. Counted against the
    │   │                      image and re-raised: the platform retries with back-off, then
    │   │                      dead-letters; the API answers 503.
    │   └── DependencyError    wraps boto3 / pg8000 / tritonclient / elasticsearch failures
    │       └── RetryLaterError  refused at once, without calling the dependency: its concurrency
    │                          bound is full, or the same call failed moments ago
    │                          (``common.outbound``); the API answers 503 with ``Retry-After``
    └── FaultError             this deployment is wrong, not the input nor a dependency's health:
        │                      re-raised like a transient error, so the event is retried and then
        │                      kept in the dead-letter queue until an operator fixes the cause;
        │                      logged as an error; the API answers 500.
        ├── ConfigError        a missing or invalid setting, or a deployment that contradicts it
        │                      (an index of another dimension or codec)
        └── InternalError      a broken invariant: a bug, or a request a dependency refuses as
                               malformed (an Elasticsearch 4xx)

``HTTP_STATUS`` is the one table from these classes to HTTP statuses; ``http_status(exc)`` reads
it for the nearest class of ``exc`` it names. The API's error handlers (``common.api.error_handlers``,
which the ``search`` cloud function serves) and the sign-in guard (``common.api.auth``) answer with it.

Adapters translate their library's exceptions into this tree (``raise ... from exc``). The
event entry points (``common.entrypoints``) acknowledge ``PermanentError`` and re-raise the
others; the API maps each by ``HTTP_STATUS``; the CLI prints any of them and exits 2
(``CommandError``: its ``code``).
"""

from __future__ import annotations


class LogoAnnError(Exception):
    """Base class of every error the project raises on purpose (raise one of its leaves)."""


class FaultError(LogoAnnError):
    """The deployment is wrong; retried (then dead-lettered) so no event is lost meanwhile."""


class ConfigError(FaultError):
    """A setting is missing or invalid, or the deployment contradicts it; the message names it."""


class InternalError(FaultError):
    """A broken invariant: a bug here, or a request a dependency rejects as malformed."""


class PermanentError(LogoAnnError):
    """Retrying the same input cannot succeed."""


class BadInputError(PermanentError):
    """A request parameter or body the API rejects (400); the message says which and why."""


class BadQuery(BadInputError):
    """A malformed query parameter, request body, cursor or query embedding."""


class InvalidAnnotationError(BadInputError):
    """An annotation the API refuses: unknown type, missing or malformed value."""


class UnauthorizedError(PermanentError):
    """No verified identity: no credentials, or a wrong service token (401)."""


class ForbiddenError(PermanentError):
    """Credentials or a requested resource refused (403)."""


class FetchRefused(ForbiddenError):
    """The URL may not be fetched (scheme, host, address, redirect, size); the message says why."""


class ConflictError(PermanentError):
    """A write that contradicts the current state (409), e.g. a label the prediction does not offer."""


class InvalidImageError(PermanentError):
    """The bytes are not an image we can decode, or the image is refused."""


class InvalidEventError(PermanentError):
    """An event or queue message does not have the expected type or shape."""


class NotFoundError(PermanentError):
    """The requested object, image or logo does not exist."""


class ModelError(PermanentError):
    """A model does not follow the tensor contract (names, shapes, dtypes)."""


class TransientError(LogoAnnError):
    """A dependency failed in a way that may succeed on retry."""


class DependencyError(TransientError):
    """A named dependency (storage, queue, model server, index, database) is unavailable."""

    def __init__(self, dependency: str, message: str) -> None:
        super().__init__(f"{dependency}: {message}")
        self.dependency = dependency


class RetryLaterError(DependencyError):
    """Not attempted: the dependency's concurrency bound is full or this call failed moments ago.

    ``retry_after_s`` is when trying again makes sense (the API's ``Retry-After``).
    """

    def __init__(self, dependency: str, message: str, retry_after_s: int = 1) -> None:
        super().__init__(dependency, message)
        self.retry_after_s = max(1, retry_after_s)


class CommandError(BadInputError):
    """A command cannot go on: printed as ``error: <message>`` (no traceback), exit ``code``."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


HTTP_STATUS: dict[type[LogoAnnError], int] = {
    LogoAnnError: 500,
    PermanentError: 422,
    BadInputError: 400,
    BadQuery: 400,
    InvalidAnnotationError: 400,
    UnauthorizedError: 401,
    ForbiddenError: 403,
    FetchRefused: 403,
    NotFoundError: 404,
    ConflictError: 409,
    InvalidImageError: 422,
    InvalidEventError: 422,
    ModelError: 422,
    TransientError: 503,
    DependencyError: 503,
    RetryLaterError: 503,
    FaultError: 500,
    ConfigError: 500,
    InternalError: 500,
    CommandError: 400,
}


def http_status(exc: LogoAnnError) -> int:
    """The HTTP status of ``exc``: ``HTTP_STATUS`` of its nearest class there (500 at worst)."""
    for cls in type(exc).__mro__:
        if issubclass(cls, LogoAnnError) and cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 500
