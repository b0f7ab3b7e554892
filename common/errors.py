"""The project's exception tree.

    LogoAnnError
    ├── ConfigError            bad or missing setting (raised at start-up)
    ├── PermanentError         retrying cannot help: record it and acknowledge
    │   ├── InvalidImageError  not a decodable image, too large, a decompression bomb
    │   ├── InvalidEventError  wrong event type, missing fields, unknown schema version
    │   ├── NotFoundError      an object, image or logo that does not exist
    │   └── ModelError         a model whose inputs/outputs break the contract
    └── TransientError         a dependency is unreachable or timed out: raise to retry
        └── DependencyError    wraps boto3 / pg8000 / tritonclient / elasticsearch failures

Adapters translate their library's exceptions into this tree (``raise ... from exc``);
entry points apply one rule: ``TransientError`` is re-raised so the platform retries,
``PermanentError`` is logged and acknowledged.
"""

from __future__ import annotations


class LogoAnnError(Exception):
    """Base class of every error the project raises on purpose."""


class ConfigError(LogoAnnError):
    """A setting is missing or invalid; the message names the variable."""


class PermanentError(LogoAnnError):
    """Retrying the same input cannot succeed."""


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
