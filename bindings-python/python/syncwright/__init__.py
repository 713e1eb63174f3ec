"""syncwright: keeps media, models, user data and logs of AI-image workstations in sync with NAS, SSH hosts and
cloud storage.

Values are plain dicts in the canonical JSON schema shared by every syncwright front end (Rust, C, Python, Node).
Errors are subclasses of :class:`SyncwrightError` (see :mod:`syncwright.errors`).

A sync goes through an :class:`Engine`::

    import syncwright

    with syncwright.Engine() as engine:
        report = engine.sync("/data/models", "/mnt/nas/models", transfers=8, verify=True)
        print(report["status"], report["stats"]["bytes_transferred"])

:meth:`Engine.start` runs it in the background as a :class:`Job` (progress, cancel, wait, ``await job``), and
:meth:`Engine.subscribe` gives the events of every job (:class:`Subscription`, iterable and async-iterable).
An engine opened with a config (``Engine.open("syncwright.toml")``) owns its profiles: status, runs, locks,
history, logs, usage and recovery calls. :class:`AsyncEngine` has the same calls as coroutines, for asyncio code
(a ComfyUI extension): none of them blocks the event loop. Every document is a ``TypedDict`` of
:mod:`syncwright.types`.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Mapping, Optional, Union

from . import _native
from . import types
from .types import Event, ManifestResult, Plan, ProfileStatus, ProgressSnapshot, SyncReport
from ._engine import AsyncEngine, Engine, Job, ProgressCallback, Subscription
from .errors import (
    AuthError,
    ConflictError,
    CorruptError,
    FeatureDisabledError,
    InternalError,
    InvalidInputError,
    NetworkError,
    NotFoundError,
    ResourceError,
    SyncwrightCancelledError,
    SyncwrightError,
    SyncwrightPermissionError,
    SyncwrightTimeoutError,
    UnavailableError,
    error_class,
)

__all__ = [
    "__version__",
    "types",
    "Event",
    "ManifestResult",
    "Plan",
    "ProfileStatus",
    "ProgressSnapshot",
    "SyncReport",
    "version",
    "build_manifest",
    "Engine",
    "AsyncEngine",
    "Job",
    "status_outcome",
    "report_text",
    "Subscription",
    "ProgressCallback",
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

__version__: str = _native.version()


def version() -> str:
    """The version of the syncwright library (the Rust core this package was built with)."""
    return _native.version()


def status_outcome(status: str) -> Optional[str]:
    """The outcome word of a status, for documents that know only success and error (document 5's
    ``lastStatus``): ``"success"`` for ``"completed"``, ``"running"`` for ``"queued"`` and ``"running"``,
    ``"error"`` for ``"partial"``, ``"failed"``, ``"cancelled"`` and ``"interrupted"``; None for a word that is
    not a status."""
    return _native.status_outcome(status)


def report_text(report: Union[Mapping[str, Any], str]) -> str:
    """A report (the dict a job gives, or its JSON) as the short text for people that document 1 calls its
    ``output``: the summary line, the first errors, a command's output, a run-all's line per profile. Raises
    :class:`InvalidInputError` for something that is not a report."""
    text = report if isinstance(report, str) else json.dumps(dict(report))
    return _native.report_text(text)


def build_manifest(
    root: Union[str, "os.PathLike[str]"], options: Optional[Mapping[str, Any]] = None
) -> ManifestResult:
    """Scan the local folder ``root`` and return ``{"manifest": ..., "warnings": [...], "errors": [...]}``.

    ``manifest`` is the canonical manifest (``schema_version``, ``name``, ``root``, ``entries`` sorted by path,
    each with ``path``, ``kind``, ``size``, ``mtime_ns``, ``mode`` and ``hashes``); files that could not be read
    are listed in ``errors`` rather than silently left out.

    ``options`` is a mapping with any of ``name``, ``include``, ``exclude`` (glob lists), ``links``
    (``"preserve"``, ``"follow"`` or ``"skip"``), ``hash`` (default True), ``threads`` and ``state_dir``, or None
    for the defaults. The GIL is released while the folder is scanned.

    Raises :class:`NotFoundError` when ``root`` does not exist, :class:`InvalidInputError` for bad options,
    and other :class:`SyncwrightError` subclasses for failures of the scan.
    """
    if options is not None and not isinstance(options, Mapping):
        raise TypeError(f"options must be a mapping or None, not {type(options).__name__}")
    options_json = None if options is None else json.dumps(dict(options))
    result: ManifestResult = json.loads(_native.build_manifest_json(os.fspath(root), options_json))
    return result
