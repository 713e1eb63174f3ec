"""The exceptions of syncwright: one class per stable error kind, all subclasses of SyncwrightError.

Every exception carries ``kind`` (the stable snake_case name, such as ``"not_found"``), ``message`` (text for a
person), ``path`` (the path concerned, or None) and ``details`` (a dict of structured facts, or None): for a
``conflict`` the lock holder (``job_id``, ``started_at``, ``pid``, ``host``, ``profile``, ``destination``), for an
error a service or an open circuit breaker gave a retry-after, ``retry_after_secs`` (and for a breaker its
``target`` and ``state``). Three classes also derive from the matching builtin, so code
that already catches those keeps working, and they carry a ``Syncwright`` prefix so they never shadow the builtin
when imported with ``from syncwright import *``:

============================  ==================  =================
class                         kind                also a subclass of
============================  ==================  =================
NotFoundError                 not_found
InvalidInputError             invalid_input       ValueError
ConflictError                 conflict
SyncwrightPermissionError     permission          PermissionError
NetworkError                  network
SyncwrightTimeoutError        timeout             TimeoutError
ResourceError                 resource
AuthError                     auth
CorruptError                  corrupt
SyncwrightCancelledError      cancelled
UnavailableError              unavailable
FeatureDisabledError          feature_disabled
InternalError                 internal
============================  ==================  =================

``SyncwrightCancelledError`` is prefixed so it is not confused with ``asyncio.CancelledError``.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Optional, Tuple, Type

__all__ = [
    "SyncwrightError",
    "NotFoundError",
    "InvalidInputError",
    "ConflictError",
    "SyncwrightPermissionError",
    "NetworkError",
    "SyncwrightTimeoutError",
    "ResourceError",
    "AuthError",
    "CorruptError",
    "SyncwrightCancelledError",
    "UnavailableError",
    "FeatureDisabledError",
    "InternalError",
    "error_class",
]


class SyncwrightError(Exception):
    """Base class of every error raised by syncwright."""

    #: The stable snake_case kind of this class's errors.
    kind: str = "internal"

    def __init__(
        self,
        message: str,
        kind: Optional[str] = None,
        path: Optional[str] = None,
        details: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__(message)
        self.message: str = message
        self.kind = kind if kind is not None else type(self).kind
        self.path: Optional[str] = path
        self.details: Optional[Dict[str, Any]] = details

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        extra = f", path={self.path!r}" if self.path is not None else ""
        if self.details is not None:
            extra += f", details={self.details!r}"
        return f"{type(self).__name__}({self.message!r}, kind={self.kind!r}{extra})"

    def __reduce__(
        self,
    ) -> Tuple[Type["SyncwrightError"], Tuple[str, str, Optional[str], Optional[Dict[str, Any]]]]:
        # Keeps kind, path and details through pickle (multiprocessing, concurrent.futures).
        return (type(self), (self.message, self.kind, self.path, self.details))


class NotFoundError(SyncwrightError):
    """A path, job, profile or object does not exist."""

    kind = "not_found"


class InvalidInputError(SyncwrightError, ValueError):
    """Bad arguments, a bad path or name, a malformed document."""

    kind = "invalid_input"


class ConflictError(SyncwrightError):
    """Already running, a lock held, a destination edited since the last run."""

    kind = "conflict"


class SyncwrightPermissionError(SyncwrightError, PermissionError):
    """The operating system or the service refused access."""

    kind = "permission"


class NetworkError(SyncwrightError):
    """A connection failed or broke."""

    kind = "network"


class SyncwrightTimeoutError(SyncwrightError, TimeoutError):
    """Something took longer than allowed."""

    kind = "timeout"


class ResourceError(SyncwrightError):
    """Out of disk, memory or quota."""

    kind = "resource"


class AuthError(SyncwrightError):
    """Credentials missing, wrong or expired."""

    kind = "auth"


class CorruptError(SyncwrightError):
    """Data did not match its checksum or could not be parsed."""

    kind = "corrupt"


class SyncwrightCancelledError(SyncwrightError):
    """The work was cancelled."""

    kind = "cancelled"


class UnavailableError(SyncwrightError):
    """A service or backend is not available now."""

    kind = "unavailable"


class FeatureDisabledError(SyncwrightError):
    """The feature is switched off by configuration."""

    kind = "feature_disabled"


class InternalError(SyncwrightError):
    """A bug or an unexpected state."""

    kind = "internal"


_BY_KIND: Dict[str, Type[SyncwrightError]] = {
    cls.kind: cls
    for cls in (
        NotFoundError,
        InvalidInputError,
        ConflictError,
        SyncwrightPermissionError,
        NetworkError,
        SyncwrightTimeoutError,
        ResourceError,
        AuthError,
        CorruptError,
        SyncwrightCancelledError,
        UnavailableError,
        FeatureDisabledError,
        InternalError,
    )
}


def error_class(kind: str) -> Type[SyncwrightError]:
    """The exception class for a kind name; SyncwrightError itself for a kind this version does not know."""
    return _BY_KIND.get(kind, SyncwrightError)


def _from_native(
    kind: str, message: str, path: Optional[str], details_json: Optional[str] = None
) -> SyncwrightError:
    """Called by the native module to build the exception it raises (``details_json``: the error's details as
    canonical JSON, an object)."""
    details: Optional[Dict[str, Any]] = None
    if details_json is not None:
        parsed = json.loads(details_json)
        details = parsed if isinstance(parsed, dict) else {"value": parsed}
    return error_class(kind)(message, kind, path, details)
