"""The engine, its jobs and its event subscriptions (re-exported by :mod:`syncwright`).

Everything here is a thin layer over the native module: options become the canonical options JSON, and the
canonical JSON documents of core (reports, plans, progress snapshots, events) come back as dicts, never reshaped.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import functools
import json
import os
import weakref
from types import TracebackType
from typing import (
    Any,
    AsyncIterator,
    Callable,
    Deque,
    Dict,
    Generator,
    Iterator,
    Optional,
    Type,
    TypeVar,
    Union,
)

from . import _native

__all__ = ["Engine", "Job", "Subscription", "ProgressCallback", "PathArg"]

#: A local path (``str`` or :class:`os.PathLike`) or a location URL such as ``file:///data``.
PathArg = Union[str, "os.PathLike[str]"]

#: The signature of ``on_progress``: called with a progress snapshot dict.
ProgressCallback = Callable[[Dict[str, Any]], object]

_T = TypeVar("_T")


def _options_json(options: Dict[str, Any]) -> Optional[str]:
    # Passed through as they are: core rejects unknown names and bad values with InvalidInputError.
    return json.dumps(options) if options else None


def _settle(fut: "asyncio.Future[_T]", value: _T) -> None:
    if not fut.done():
        fut.set_result(value)


class _Bridge:
    """Completes an asyncio future of the running loop from a library thread (``loop.call_soon_threadsafe``)."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.future: "asyncio.Future[Optional[str]]" = self.loop.create_future()

    def __call__(self, value: Optional[str]) -> None:  # runs on a library thread
        try:
            self.loop.call_soon_threadsafe(_settle, self.future, value)
        except RuntimeError:  # the loop was closed: nobody is waiting any more
            pass


class Job:
    """A sync running in the background, returned by :meth:`Engine.start`.

    Thread-safe: any thread may query, cancel or wait. Awaiting a job (``report = await job``) waits without
    blocking the event loop and returns the same report as :meth:`wait`. Cancelling the awaiting task does not
    cancel the job; call :meth:`cancel` for that.
    """

    __slots__ = ("_native",)

    def __init__(self, native: _native.NativeJob) -> None:
        self._native = native

    @property
    def id(self) -> str:
        """The job's id (a UUID), the ``job_id`` of its events."""
        return self._native.id

    @property
    def status(self) -> str:
        """``"running"`` until the job has finished, then its report's status: ``"completed"``, ``"partial"``,
        ``"failed"`` or ``"cancelled"``."""
        return self._native.status

    def progress(self) -> Dict[str, Any]:
        """The progress snapshot now: ``stage``, ``current_file``, ``files_done``, ``files_total``,
        ``bytes_done``, ``bytes_total``, ``scanned``, ``rate_bps``, ``eta_secs``, ``percent`` (0 to 100) and
        ``elapsed_ms``."""
        result: Dict[str, Any] = json.loads(self._native.progress_json())
        return result

    def cancel(self) -> None:
        """Ask the job to stop. Transfers stop within one chunk and remove their temporary files; the job then
        finishes with status ``"cancelled"``. Does nothing once the job has finished."""
        self._native.cancel()

    def wait(self, timeout: Optional[float] = None) -> Optional[Dict[str, Any]]:
        """Wait until the job finishes and return its report (see :meth:`report`), or None when ``timeout``
        seconds passed first (``timeout=None`` waits as long as it takes; ``0`` only looks).

        The GIL is released while waiting, and Ctrl-C interrupts the wait (the job goes on)."""
        text = self._native.wait_json(timeout)
        return None if text is None else _loads(text)

    def report(self) -> Optional[Dict[str, Any]]:
        """The canonical report once the job has finished, else None: ``schema_version``, ``run_id``,
        ``status``, ``dry_run``, ``source``, ``destination``, ``started_at``, ``finished_at``, ``duration_ms``,
        ``stats``, ``errors`` (``{action, path, error, kind}``), ``warnings`` (``{path, reason, message}``),
        ``plan`` (dry runs) and ``fatal`` (when the whole run failed)."""
        text = self._native.report_json()
        return None if text is None else _loads(text)

    def report_json(self) -> Optional[str]:
        """The report exactly as core writes it (one line of canonical JSON), or None while the job runs."""
        return self._native.report_json()

    def __await__(self) -> Generator[Any, None, Dict[str, Any]]:
        """``report = await job``: the report, waiting without blocking the event loop."""
        bridge = _Bridge()
        self._native.on_done(bridge)
        text = yield from bridge.future.__await__()
        assert text is not None
        return _loads(text)

    async def wait_async(self) -> Dict[str, Any]:
        """The same as ``await job``, as a coroutine (for ``asyncio.run``, ``asyncio.create_task``, ...)."""
        return await self

    def __repr__(self) -> str:
        return f"<syncwright.Job {self.id} {self.status}>"


class Subscription:
    """Events of an engine from the moment of :meth:`Engine.subscribe` on (after the kept ones it replays, when
    given ``since``).

    Events are canonical event dicts, each with ``seq`` (its number: from 1, only growing) and ``type``. A job
    goes ``job_queued`` (``job_id``, ``at``, ``source``, ``destination``), ``job_started`` (``job_id``, ``at``),
    ``progress`` (``job_id``, ``progress``: a snapshot as in :meth:`Job.progress`) and ``job_finished``
    (``job_id``, ``at``, ``status``, ``stats``); locks, operations, breakers and profile logs add ``lock_taken``,
    ``lock_released``, ``lock_broken``, ``recovery_update``, ``recovery_completed``, ``breaker`` and ``log``.

    Iterate it (``for event in sub``: blocking, GIL released) or async-iterate it (``async for event in sub``).
    Either ends after :meth:`close` (or the engine's close) once the queued events were read. A subscriber that
    falls more than 4096 live events behind loses the oldest ones (counted in :attr:`lost`); it never slows the
    engine, and can subscribe again with ``since`` = the last ``seq`` it saw. Also a context manager that
    closes it.
    """

    def __init__(self, native: _native.NativeSubscription) -> None:
        self._native = native
        # Event JSON received for an event loop that closed before it could be handed out; handed out first.
        self._pending: Deque[str] = collections.deque()
        # The event requested for async iteration and not handed out yet.
        self._inflight: "Optional[asyncio.Future[Optional[str]]]" = None

    def next(self, timeout: Optional[float] = None) -> Optional[Dict[str, Any]]:
        """The next event, waiting up to ``timeout`` seconds (None: until one comes; GIL released); None on
        timeout, or once the subscription is closed and every queued event was read."""
        if self._pending:
            return _loads(self._pending.popleft())
        text = self._native.next_json(timeout)
        return None if text is None else _loads(text)

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        return self

    def __next__(self) -> Dict[str, Any]:
        event = self.next()
        if event is None:
            raise StopIteration
        return event

    def __aiter__(self) -> AsyncIterator[Dict[str, Any]]:
        return self

    async def __anext__(self) -> Dict[str, Any]:
        """The next event without blocking the event loop; StopAsyncIteration once closed and drained.

        Cancelling a waiter loses no event: the event it would have got goes to the next waiter."""
        loop = asyncio.get_running_loop()
        while True:
            if self._pending:
                return _loads(self._pending.popleft())
            fut = self._inflight
            if fut is None or (fut.get_loop() is not loop and not fut.done()):
                fut = loop.create_future()
                self._inflight = fut
                self._native.on_next(functools.partial(Subscription._deliver, weakref.ref(self), loop, fut))
            # Shielded: a cancelled waiter leaves the request in flight for the next one.
            text = await asyncio.shield(fut) if fut.get_loop() is loop else fut.result()
            if self._inflight is fut:  # this waiter takes the event; others wait for the next one
                self._inflight = None
                if text is None:
                    raise StopAsyncIteration
                return _loads(text)

    @staticmethod
    def _deliver(
        sub: "weakref.ReferenceType[Subscription]",
        loop: asyncio.AbstractEventLoop,
        fut: "asyncio.Future[Optional[str]]",
        text: Optional[str],
    ) -> None:
        # Runs on a library thread. A weak reference: a request in flight does not keep the subscription alive.
        try:
            loop.call_soon_threadsafe(_settle, fut, text)
        except RuntimeError:  # that loop was closed: keep the event for whoever asks next
            this = sub()
            if this is not None and text is not None:
                this._pending.append(text)

    @property
    def lost(self) -> int:
        """How many events were dropped because this subscriber fell too far behind."""
        return self._native.lost

    @property
    def closed(self) -> bool:
        """True once :meth:`close` (or the engine's close) was called."""
        return self._native.closed

    def close(self) -> None:
        """Stop receiving events. Blocked and async waiters wake; queued events can still be read, then
        iteration ends."""
        self._native.close()

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<syncwright.Subscription{' closed' if self.closed else ''}>"


class Engine:
    """The front door of syncwright: owns the worker threads and the embedded store (the hash cache), starts
    syncs.

    ``state_dir`` is where the store lives (default: ``$SYNCWRIGHT_STATE_DIR``, else
    ``$XDG_STATE_HOME/syncwright``, else ``~/.local/state/syncwright``); ``no_store=True`` runs without one (no
    hash cache); ``worker_threads`` sets the async worker threads (0: one per core).

    Sync options are keyword arguments with the names of the canonical options: ``name``, ``compare``
    (``"size_mtime"``, ``"checksum"``, ``"size_only"``), ``modify_window_ms``, ``include``, ``exclude`` (glob
    lists), ``links`` (``"preserve"``, ``"follow"``, ``"skip"``), ``min_age_secs``, ``delete``, ``max_delete``
    (default: deletes of more than half of the destination's files are refused), ``delete_excluded``,
    ``allow_empty_source``, ``backup_dir`` (deleted and overwritten files are moved there), ``dry_run``, ``transfers``, ``verify``, ``bwlimit`` (bytes per second), ``dest_changed`` (``"overwrite"``,
    ``"skip"``, ``"keep_both"``), ``rescan_dest``, ``trust_dest_manifest`` (plan against the destination
    manifest without listing the destination), ``chunk_size``, ``still_changing_retries``,
    ``progress_interval_ms``, ``list_identical``, ``scan_threads``, ``max_attempts`` (of the whole run),
    ``retry`` (policies by error category), ``commit_manifest`` (replace the destination manifest after
    a clean run, default true), ``remote`` (how to reach ``sftp://``, ``s3://`` and ``gdrive://`` locations: a
    dict with ``sftp``, ``s3`` and ``gdrive`` sections, for example
    ``remote={"sftp": {"key_file": "/keys/id_ed25519", "known_hosts": "/keys/known_hosts"}}``). An unknown name
    or a bad value raises
    :class:`~syncwright.InvalidInputError` (``breaker`` too: circuit breakers are the engine's, one per remote
    target, set in the config's ``[settings.breaker]``).

    Thread-safe. Use it as a context manager, or call :meth:`close`, to stop it deterministically; an engine
    still open when the interpreter exits is closed then (its running jobs are cancelled and clean up).
    Raises :class:`~syncwright.SyncwrightError` subclasses (for example when the state directory cannot be
    opened).
    """

    def __init__(
        self,
        state_dir: Optional[PathArg] = None,
        *,
        no_store: bool = False,
        worker_threads: int = 0,
    ) -> None:
        config = {
            "state_dir": None if state_dir is None else os.fspath(state_dir),
            "no_store": no_store,
            "worker_threads": worker_threads,
        }
        self._state_dir = config["state_dir"]
        self._native = _native.NativeEngine(json.dumps(config))
        _open_engines.add(self)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._native.closed

    def close(self) -> None:
        """Stop the engine: cancel the jobs still running and wait for them to stop (their temporary files are
        removed, their reports say ``"cancelled"``), end every subscription, then stop the worker threads. The
        GIL is released meanwhile. Calling it again does nothing; any other call afterwards raises
        :class:`~syncwright.InvalidInputError`. A plan being computed is waited for. Called from a progress
        callback, it returns at once and the engine stops in the background."""
        self._native.close()

    def __enter__(self) -> "Engine":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def build_manifest(self, root: PathArg, **options: Any) -> Dict[str, Any]:
        """Scan the local folder ``root``; as :func:`syncwright.build_manifest` with the options as keyword
        arguments (``name``, ``include``, ``exclude``, ``links``, ``hash``, ``threads``, ``state_dir``). The
        hash cache of this engine's state directory is used unless ``state_dir`` is given."""
        from . import build_manifest

        if self._state_dir is not None:
            options.setdefault("state_dir", self._state_dir)
        return build_manifest(root, options)

    def plan(self, source: PathArg, dest: PathArg, **options: Any) -> Dict[str, Any]:
        """What a sync from ``source`` to ``dest`` would do, writing nothing: the canonical plan with
        ``schema_version``, ``compare``, ``actions`` (each ``{op, path, reason, size, entry?, dest?}``, sorted by
        path; identical entries only with ``list_identical=True``), ``errors`` and ``totals``.

        Blocks with the GIL released. Raises :class:`~syncwright.InvalidInputError` for bad options, and the
        error of the run when it fails as a whole (for example :class:`~syncwright.NotFoundError` for a missing
        source)."""
        text = self._native.plan_json(os.fspath(source), os.fspath(dest), _options_json(options))
        return _loads(text)

    def start(
        self,
        source: PathArg,
        dest: PathArg,
        *,
        on_progress: Optional[ProgressCallback] = None,
        **options: Any,
    ) -> Job:
        """Start a sync from ``source`` to ``dest`` (local paths or ``file://`` URLs) in the background and return
        its :class:`Job`.

        ``on_progress(snapshot)`` is called from a library thread (holding the GIL for the call) at most once per
        ``progress_interval_ms`` (default 200) while the job makes progress, and a last time with stage ``"done"``
        and percent 100 just before the job finishes. An exception it raises is reported through
        ``sys.unraisablehook`` and the job goes on. Keep it short: the job waits for it, so it must not wait for
        its own job.

        Raises :class:`~syncwright.InvalidInputError` for bad options or an unsupported location; a run that
        fails later (a missing source, an unwritable destination) finishes with status ``"failed"`` and its
        report's ``fatal`` set instead."""
        native = self._native.start(os.fspath(source), os.fspath(dest), _options_json(options), on_progress)
        return Job(native)

    def sync(
        self,
        source: PathArg,
        dest: PathArg,
        *,
        on_progress: Optional[ProgressCallback] = None,
        **options: Any,
    ) -> Dict[str, Any]:
        """Run a sync and return its report (see :meth:`Job.report`): :meth:`start` then :meth:`Job.wait`.

        Blocks with the GIL released. When the wait is interrupted (Ctrl-C), the job is cancelled and waited for
        before the exception propagates."""
        job = self.start(source, dest, on_progress=on_progress, **options)
        try:
            report = job.wait()
        except BaseException:
            job.cancel()
            job.wait()
            raise
        assert report is not None
        return report

    async def sync_async(
        self,
        source: PathArg,
        dest: PathArg,
        *,
        on_progress: Optional[ProgressCallback] = None,
        **options: Any,
    ) -> Dict[str, Any]:
        """Run a sync without blocking the event loop and return its report. Cancelling the awaiting task
        cancels the job (and waits for it to stop)."""
        job = self.start(source, dest, on_progress=on_progress, **options)
        try:
            return await job
        except asyncio.CancelledError:
            job.cancel()
            await job
            raise

    def subscribe(
        self, since: Optional[int] = None, filter: Optional[Dict[str, Any]] = None
    ) -> Subscription:
        """A :class:`Subscription` to this engine's events.

        ``since`` is the last ``seq`` the caller saw (``0``: every event kept): the subscription first gives every
        kept event with a greater ``seq``, in order, then the live ones, with no gap and no duplicate between the
        two. ``None`` (the default) gives the live events only. Events are kept for ``[settings]
        event_retention`` (default 24h), at most ``event_retention_max`` (default 100000); ``seq`` only grows,
        across restarts too. With ``since``, the call blocks (GIL released) while it reads the kept events.

        ``filter`` takes only some events: a dict with any of ``job_id``, ``profile``, ``operation_id`` (the
        events about that job, profile or operation) and ``types`` (a list of event ``type`` names); an event is
        taken when it matches every key given.

        Raises :class:`InvalidInputError` for a bad filter (unknown key or type), or a ``since`` whose following
        events are no longer kept or that is beyond the latest ``seq`` (subscribe again from the latest and
        resynchronise what came before by other means).
        """
        filter_json = None if filter is None else json.dumps(filter)
        return Subscription(self._native.subscribe(since, filter_json))

    def __repr__(self) -> str:
        return f"<syncwright.Engine{' closed' if self.closed else ''}>"


def _loads(text: str) -> Dict[str, Any]:
    result: Dict[str, Any] = json.loads(text)
    return result


# Engines not closed yet; closed at exit, while the interpreter still runs the jobs' callbacks.
_open_engines: "weakref.WeakSet[Engine]" = weakref.WeakSet()


@atexit.register
def _close_open_engines() -> None:
    for engine in list(_open_engines):
        engine.close()
