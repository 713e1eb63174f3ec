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
    List,
    Mapping,
    Optional,
    Sequence,
    Type,
    TypeVar,
    Union,
    cast,
)

from . import _native
from .types import (
    BackupCreated,
    BackupInfo,
    BackupRestoreReport,
    BackupVerify,
    BreakerSettings,
    CloudManifest,
    CloudServiceConfig,
    CloudSyncResult,
    RcloneImport,
    VaultRestore,
    VaultStatus,
    VaultValue,
    BreakerStatus,
    Config,
    Event,
    JobSnapshot,
    LockSelfTest,
    LogEntry,
    LogLevel,
    LogPage,
    ManifestResult,
    Operation,
    Plan,
    ProfileInfo,
    ProfileLocks,
    ProfileStatus,
    ProgressSnapshot,
    RecoveryMetrics,
    RunPage,
    ScenarioInfo,
    SelfTestReport,
    StorageUsage,
    SyncReport,
    UnlockReport,
)

__all__ = ["Engine", "AsyncEngine", "Job", "Subscription", "ProgressCallback", "PathArg"]

def _opt_path(p: Optional[PathArg]) -> Optional[str]:
    return None if p is None else os.fspath(p)


def _cloud_args(
    service: str,
    snapshot: Optional[str],
    paths: Optional[Sequence[str]],
    credentials_key: Optional[str],
    service_config: Optional[CloudServiceConfig],
    commit_manifest: Optional[bool],
) -> Dict[str, Any]:
    args: Dict[str, Any] = {
        "service": service,
        "snapshot": snapshot,
        "paths": None if paths is None else list(paths),
        "credentials_key": credentials_key,
        "service_config": dict(service_config) if service_config is not None else None,
    }
    if commit_manifest is not None:
        args["commit_manifest"] = commit_manifest
    return args


#: A local path (``str`` or :class:`os.PathLike`) or a location URL such as ``file:///data``.
PathArg = Union[str, "os.PathLike[str]"]

#: The signature of ``on_progress``: called with a progress snapshot dict.
ProgressCallback = Callable[[ProgressSnapshot], object]

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

    def snapshot(self, with_report: bool = False) -> JobSnapshot:
        """The job as it is now: ``job_id``, ``sync_id``, ``profile``, ``source``, ``destination``,
        ``started_at``, ``status``, ``progress``, ``finished_at``, and ``report`` once it ended when
        ``with_report``."""
        result: JobSnapshot = json.loads(self._native.snapshot_json(with_report))
        return result

    def progress(self) -> ProgressSnapshot:
        """The progress snapshot now: ``stage``, ``current_file``, ``files_done``, ``files_total``,
        ``bytes_done``, ``bytes_total``, ``scanned``, ``rate_bps``, ``eta_secs``, ``percent`` (0 to 100) and
        ``elapsed_ms``."""
        result: ProgressSnapshot = json.loads(self._native.progress_json())
        return result

    def cancel(self) -> None:
        """Ask the job to stop. Transfers stop within one chunk and remove their temporary files; the job then
        finishes with status ``"cancelled"``. Does nothing once the job has finished."""
        self._native.cancel()

    def wait(self, timeout: Optional[float] = None) -> Optional[SyncReport]:
        """Wait until the job finishes and return its report (see :meth:`report`), or None when ``timeout``
        seconds passed first (``timeout=None`` or negative waits as long as it takes; ``0`` only looks).

        The GIL is released while waiting, and Ctrl-C interrupts the wait (the job goes on)."""
        text = self._native.wait_json(timeout)
        return None if text is None else _report(text)

    def report(self) -> Optional[SyncReport]:
        """The canonical report once the job has finished, else None: ``schema_version``, ``run_id``,
        ``status``, ``dry_run``, ``source``, ``destination``, ``started_at``, ``finished_at``, ``duration_ms``,
        ``stats``, ``errors`` (``{action, path, error, kind}``), ``warnings`` (``{path, reason, message}``),
        ``plan`` (dry runs) and ``fatal`` (when the whole run failed)."""
        text = self._native.report_json()
        return None if text is None else _report(text)

    def report_json(self) -> Optional[str]:
        """The report exactly as core writes it (one line of canonical JSON), or None while the job runs."""
        return self._native.report_json()

    def __await__(self) -> Generator[Any, None, SyncReport]:
        """``report = await job``: the report, waiting without blocking the event loop."""
        bridge = _Bridge()
        self._native.on_done(bridge)
        text = yield from bridge.future.__await__()
        assert text is not None
        return _report(text)

    async def wait_async(self) -> SyncReport:
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

    def next(self, timeout: Optional[float] = None) -> Optional[Event]:
        """The next event, waiting up to ``timeout`` seconds (None or negative: until one comes; GIL released); None on
        timeout, or once the subscription is closed and every queued event was read."""
        if self._pending:
            return _event(self._pending.popleft())
        text = self._native.next_json(timeout)
        return None if text is None else _event(text)

    def __iter__(self) -> Iterator[Event]:
        return self

    def __next__(self) -> Event:
        event = self.next()
        if event is None:
            raise StopIteration
        return event

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        """The next event without blocking the event loop; StopAsyncIteration once closed and drained.

        Cancelling a waiter loses no event: the event it would have got goes to the next waiter."""
        loop = asyncio.get_running_loop()
        while True:
            if self._pending:
                return _event(self._pending.popleft())
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
                return _event(text)

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
    ``progress_interval_ms``, ``list_identical``, ``report_plan``, ``scan_threads``, ``max_attempts`` (of the whole run),
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
        config_file: Optional[PathArg] = None,
        config: Optional[Mapping[str, Any]] = None,
        no_store: bool = False,
        worker_threads: int = 0,
        log_dir: Optional[PathArg] = None,
        _native_engine: Optional[_native.NativeEngine] = None,
    ) -> None:
        engine_config = _engine_config(state_dir, config_file, config, no_store, worker_threads, log_dir)
        self._state_dir: Optional[str] = engine_config["state_dir"]
        self._native = (
            _native_engine if _native_engine is not None else _native.NativeEngine(json.dumps(engine_config))
        )
        _open_engines.add(self)

    @classmethod
    def open(cls, config_file: PathArg, **kwargs: Any) -> "Engine":
        """An engine owning the profiles and settings of the TOML file ``config_file`` (the other arguments as
        for the constructor)."""
        return cls(config_file=config_file, **kwargs)

    def _call(self, name: str, args: Optional[Dict[str, Any]] = None) -> Any:
        return _result(self._native.call(name, _args_json(args)))

    def _start(self, name: str, args: Optional[Dict[str, Any]], on_progress: Optional[ProgressCallback]) -> "Job":
        native = self._native.call(name, _args_json(args), on_progress)
        assert isinstance(native, _native.NativeJob)
        return Job(native)

    # -- profiles ------------------------------------------------------------------------------------------------

    def config(self) -> Config:
        """The profiles and settings this engine owns (the config file's schema, as a dict; secrets are None)."""
        result: Config = self._call("config")
        return result

    def profiles(self) -> List[ProfileInfo]:
        """The profiles, in name order: ``name``, ``kind`` (``"sync"`` or ``"command"``), ``source``,
        ``destination``, ``command``, ``interval_secs``, ``delete``."""
        result: List[ProfileInfo] = self._call("profiles")
        return result

    def profile_status(self, name: str) -> ProfileStatus:
        """Profile ``name`` now: whether it runs (from its lock, so a run of another process or host too), its
        ``state`` (``"running"``, ``"success"``, ``"error"``, ``"idle"``), its locks, its last run and a
        one-line ``summary``. Reads the coordination folder and the destination's lock (blocks, GIL released).
        Raises :class:`~syncwright.NotFoundError` for a profile the engine does not have."""
        result: ProfileStatus = self._call("profile_status", {"name": name})
        return result

    def profiles_status(self) -> List[ProfileStatus]:
        """:meth:`profile_status` of every profile, in name order."""
        result: List[ProfileStatus] = self._call("profiles_status")
        return result

    def profile_locks(self) -> List[ProfileLocks]:
        """Every profile's locks: ``{profile, lock, destination_lock, destination_lock_error}``."""
        result: List[ProfileLocks] = self._call("profile_locks")
        return result

    def run_profile(self, name: str, *, on_progress: Optional[ProgressCallback] = None) -> "Job":
        """Start profile ``name`` in the background (a sync, or its command) and return its :class:`Job`.
        Raises :class:`~syncwright.ConflictError` when it is already running (``details``: ``job_id``,
        ``started_at``), :class:`~syncwright.NotFoundError` for an unknown profile."""
        return self._start("run_profile", {"name": name}, on_progress)

    def run_all(self, *, on_progress: Optional[ProgressCallback] = None) -> "Job":
        """Run every profile in turn, as one job whose report has ``"type": "run_all"`` and one result per
        profile (``results``). Cancelling it cancels the running profile and skips the rest."""
        return self._start("run_all", None, on_progress)

    def unlock_profile(self, name: str, *, force: bool = False) -> UnlockReport:
        """Remove profile ``name``'s locks without ever letting two runs write one destination: a stale lock
        goes at once; one a job of this engine holds goes with the job (cancelled and waited for); one held
        elsewhere with a fresh lease raises :class:`~syncwright.ConflictError` (``details["holders"]``) unless
        ``force``. Returns ``{removed, cancelled_jobs, errors}``."""
        result: UnlockReport = self._call("unlock_profile", {"name": name, "force": force})
        return result

    def unlock_all(self, *, force: bool = False) -> UnlockReport:
        """:meth:`unlock_profile` for every lock the engine can see."""
        result: UnlockReport = self._call("unlock_all", {"force": force})
        return result

    def lock_self_test(self, name: Optional[str] = None) -> LockSelfTest:
        """Check that locking works in the coordination folder with a test lock ``name`` (default
        ``"test_sync"``): take, a second take refused, renew, release. Returns ``{name, location, steps}``, or
        raises the error of the first step that failed."""
        result: LockSelfTest = self._call("lock_self_test", {"name": name})
        return result

    # -- jobs, history and logs ----------------------------------------------------------------------------------

    def job(self, id: str) -> "Job":
        """A handle on job ``id`` of this engine (running, or ended within the last hour). Raises
        :class:`~syncwright.NotFoundError` otherwise (see :meth:`run_history`)."""
        return self._start("job", {"id": id}, None)

    def jobs(self) -> List[JobSnapshot]:
        """Every job this engine knows (running, or ended within the last hour), oldest first."""
        result: List[JobSnapshot] = self._call("jobs")
        return result

    def active_jobs(self) -> List[JobSnapshot]:
        """The jobs still running, oldest first."""
        result: List[JobSnapshot] = self._call("active_jobs")
        return result

    def recent_jobs(self, limit: int = 50) -> List[JobSnapshot]:
        """The ``limit`` most recent jobs, newest first."""
        result: List[JobSnapshot] = self._call("recent_jobs", {"limit": limit})
        return result

    def run_history(self, profile: str, page: int = 1, per_page: int = 50) -> RunPage:
        """Page ``page`` (from 1) of ``per_page`` (1 to 1000) runs of ``profile`` from the store, newest first:
        ``{profile, runs, pagination}``. Raises :class:`~syncwright.FeatureDisabledError` without a store."""
        result: RunPage = self._call("run_history", {"profile": profile, "page": page, "per_page": per_page})
        return result

    def profile_log_tail(self, profile: str, lines: int = 20, level: Optional[LogLevel] = None) -> List[LogEntry]:
        """The last ``lines`` entries of ``profile``'s log (of ``level`` only, when given), oldest first:
        ``{timestamp, level, message, data}``."""
        result: List[LogEntry] = self._call("profile_log_tail", {"profile": profile, "lines": lines, "level": level})
        return result

    def profile_log_page(
        self, profile: str, page: int = 1, per_page: int = 50, level: Optional[LogLevel] = None
    ) -> LogPage:
        """Page ``page`` of ``per_page`` entries of ``profile``'s log, oldest first: ``{logs, pagination}``."""
        args = {"profile": profile, "page": page, "per_page": per_page, "level": level}
        result: LogPage = self._call("profile_log_page", args)
        return result

    def storage_usage(
        self, *, models_root: Optional[PathArg] = None, root: Optional[PathArg] = None
    ) -> StorageUsage:
        """What folders hold: ``total_size``, ``by_type`` (the subfolders of ``models_root``), ``by_project``
        (the profiles' destinations), ``by_folder`` (the top-level folders of ``root``) and ``disk``."""
        args = {
            "models_root": None if models_root is None else os.fspath(models_root),
            "root": None if root is None else os.fspath(root),
        }
        result: StorageUsage = self._call("storage_usage", args)
        return result

    # -- recovery ------------------------------------------------------------------------------------------------

    def operations(self, *, active_only: bool = False, limit: int = 100) -> List[Operation]:
        """The stored operations (one per job), newest first."""
        result: List[Operation] = self._call("operations", {"active_only": active_only, "limit": limit})
        return result

    def operation(self, id: str) -> Operation:
        """Operation ``id`` (the id of the job that runs or ran it)."""
        result: Operation = self._call("operation", {"id": id})
        return result

    def interrupted_operations(self) -> List[Operation]:
        """The operations a restart interrupted (a crash or a kill while they ran)."""
        result: List[Operation] = self._call("interrupted_operations")
        return result

    def cancel_operation(self, id: str) -> Operation:
        """Cancel operation ``id`` (its job here is cancelled and waited for). Raises
        :class:`~syncwright.ConflictError` when it has already ended."""
        result: Operation = self._call("cancel_operation", {"id": id})
        return result

    def retry_operation(self, id: str, *, force: bool = False, max_attempts: Optional[int] = None) -> "Job":
        """Run operation ``id`` again as a new job with the same id (any ended one with ``force``)."""
        return self._start("retry_operation", {"id": id, "force": force, "max_attempts": max_attempts}, None)

    def recovery_metrics(self) -> RecoveryMetrics:
        """Recovery figures over the stored operations, breaker trips and the settings in effect."""
        result: RecoveryMetrics = self._call("recovery_metrics")
        return result

    def recovery_scenarios(self) -> List[ScenarioInfo]:
        """The scenarios of the recovery self-test."""
        result: List[ScenarioInfo] = self._call("recovery_scenarios")
        return result

    def recovery_self_test(self, scenarios: Optional[Sequence[str]] = None, runs: int = 1) -> SelfTestReport:
        """Run the recovery self-test (the named scenarios, all by default, ``runs`` times each) for real, in a
        scratch folder. Blocks for about a second per scenario and run (GIL released)."""
        args = {"scenarios": list(scenarios or []), "runs": runs}
        result: SelfTestReport = self._call("recovery_self_test", args)
        return result

    def breakers(self) -> List[BreakerStatus]:
        """The circuit breakers of the remote targets this engine's jobs used so far."""
        result: List[BreakerStatus] = self._call("breakers")
        return result

    def breaker_settings(self) -> BreakerSettings:
        """The circuit breakers' settings (the config's ``[settings.breaker]``)."""
        result: BreakerSettings = self._call("breaker_settings")
        return result

    # -- the vault and document 3's cloud sync -------------------------------------------------------------------

    def backup_create(self, label: Optional[str] = None, *, max_backups: Optional[int] = None, dir: Optional[PathArg] = None) -> BackupCreated:
        """Makes a zip of the config's ``[backup]`` paths named ``<UTC time>[-label].zip`` with its manifest inside, then keeps the ``max_backups`` newest archives (a user's own zips are never removed)."""
        result: BackupCreated = self._call("backup_create", {"label": label, "max_backups": max_backups, "dir": _opt_path(dir)})
        return result

    def backup_list(self, dir: Optional[PathArg] = None) -> List[BackupInfo]:
        """The archives of the backups folder, newest first (only syncwright's)."""
        result: List[BackupInfo] = self._call("backup_list", {"dir": _opt_path(dir)})
        return result

    def backup_verify(self, name: PathArg, *, dir: Optional[PathArg] = None) -> BackupVerify:
        """Verifies an archive (a name in the backups folder, or a path) without restoring it; :class:`CorruptError` for one refused as a whole."""
        result: BackupVerify = self._call("backup_verify", {"name": os.fspath(name), "dir": _opt_path(dir)})
        return result

    def backup_restore(self, name: PathArg, *, target: Optional[PathArg] = None, replace_existing: bool = False, dir: Optional[PathArg] = None) -> BackupRestoreReport:
        """Restores an archive into ``target`` (default the ``[backup]`` root): every entry name is checked before anything is written, every file against the manifest; existing files are kept unless ``replace_existing``. ``status`` is ``"partial"`` when a file failed (the old one is kept)."""
        result: BackupRestoreReport = self._call("backup_restore", {"name": os.fspath(name), "target": _opt_path(target), "replace_existing": replace_existing, "dir": _opt_path(dir)})
        return result

    def media_info(self, paths: Sequence[PathArg]) -> List[MediaInfo]:
        """The format, size and generation metadata (A1111 parameters, ComfyUI prompt and workflow, parsed fields) of
        each image, in order, read without decoding pixels; a file that cannot be read carries its ``error``."""
        result: List[MediaInfo] = self._call("media_info", {"paths": [os.fspath(p) for p in paths]})
        return result

    def vault_status(self) -> VaultStatus:
        """Where the engine's vault is, whether it exists and whether this engine holds it unlocked (reads no secret)."""
        result: VaultStatus = self._call("vault_status")
        return result

    def vault_init(self, passphrase: Optional[str] = None) -> VaultStatus:
        """Creates an empty vault under ``passphrase`` (else ``SYNCWRIGHT_SECRETS_KEY``) and keeps it unlocked; :class:`ConflictError` when one exists."""
        result: VaultStatus = self._call("vault_init", {"passphrase": passphrase})
        return result

    def vault_unlock(self, passphrase: Optional[str] = None) -> VaultStatus:
        """Unlocks the vault (``passphrase``, else ``SYNCWRIGHT_SECRETS_KEY``) and keeps it so: later calls, and runs whose remote options name a ``credentials_key``, need no passphrase. :class:`AuthError` for a wrong one, :class:`CorruptError` for a damaged file."""
        result: VaultStatus = self._call("vault_unlock", {"passphrase": passphrase})
        return result

    def vault_lock(self) -> VaultStatus:
        """Forgets the unlocked vault; the next call that needs it unlocks it again."""
        result: VaultStatus = self._call("vault_lock")
        return result

    def vault_keys(self, passphrase: Optional[str] = None) -> List[str]:
        """The vault's keys, in order (never their values)."""
        result: List[str] = self._call("vault_keys", {"passphrase": passphrase})
        return result

    def vault_get(self, key: str, passphrase: Optional[str] = None) -> VaultValue:
        """The value of ``key`` (dotted keys reach into objects: ``cloud_sync.gdrive.credentials``); :class:`NotFoundError` when there is none."""
        result: VaultValue = self._call("vault_get", {"key": key, "passphrase": passphrase})
        return result

    def vault_set(self, key: str, value: Union[str, Dict[str, Any]], passphrase: Optional[str] = None) -> List[str]:
        """Sets ``key`` to ``value`` (a string or a dict) and writes the vault; gives the keys after it."""
        result: List[str] = self._call("vault_set", {"key": key, "value": value, "passphrase": passphrase})
        return result

    def vault_delete(self, key: str, passphrase: Optional[str] = None) -> List[str]:
        """Removes ``key`` (:class:`NotFoundError` when there is none); gives the keys after it."""
        result: List[str] = self._call("vault_delete", {"key": key, "passphrase": passphrase})
        return result

    def vault_change_passphrase(self, new_passphrase: Optional[str] = None, passphrase: Optional[str] = None) -> VaultStatus:
        """Re-encrypts the vault under ``new_passphrase`` (else ``SYNCWRIGHT_SECRETS_KEY_NEW``); earlier envelopes stay as backups."""
        result: VaultStatus = self._call("vault_change_passphrase", {"new_passphrase": new_passphrase, "passphrase": passphrase})
        return result

    def vault_restore_backup(self, passphrase: Optional[str] = None) -> VaultRestore:
        """When the vault's current envelope is damaged, writes back the newest inline backup that opens."""
        result: VaultRestore = self._call("vault_restore_backup", {"passphrase": passphrase})
        return result

    def vault_import_rclone(self, path: PathArg, *, prefix: Optional[str] = None, passphrase: Optional[str] = None) -> RcloneImport:
        """Imports the S3, Drive (service account) and SFTP (key) sections of an unencrypted rclone.conf as vault entries ``<prefix>.<section>`` (default prefix ``rclone``), with a profile stub each; says why other sections were left."""
        result: RcloneImport = self._call("vault_import_rclone", {"path": os.fspath(path), "prefix": prefix, "passphrase": passphrase})
        return result

    def cloud_manifest(self, snapshot: Optional[str] = None, include: Optional[Sequence[str]] = None) -> CloudManifest:
        """The manifest of the config's ``[cloud_sync]`` tree (document 3's ``GET /api/sync/manifest``), touching no remote; :class:`FeatureDisabledError` unless ``[features] enable_cloud_sync``."""
        result: CloudManifest = self._call("cloud_manifest", {"snapshot": snapshot, "include": None if include is None else list(include)})
        return result

    def cloud_dry_run(self, service: str, *, snapshot: Optional[str] = None, paths: Optional[Sequence[str]] = None, credentials_key: Optional[str] = None, service_config: Optional[CloudServiceConfig] = None) -> CloudSyncResult:
        """The plan of mirroring the tree to ``service`` (``"s3"`` or ``"gdrive"``) without writing (document 3's dry run); :class:`FeatureDisabledError` unless ``[features]`` turns the service on."""
        result: CloudSyncResult = self._call("cloud_dry_run", _cloud_args(service, snapshot, paths, credentials_key, service_config, None))
        return result

    def cloud_run(self, service: str, *, snapshot: Optional[str] = None, paths: Optional[Sequence[str]] = None, credentials_key: Optional[str] = None, service_config: Optional[CloudServiceConfig] = None, commit_manifest: Optional[bool] = None) -> CloudSyncResult:
        """Mirrors the tree to ``service`` (document 3's run): goes on past files that fail (``summary.status`` ``"partial"`` with ``errors``); the remote manifest is replaced only after a clean run."""
        result: CloudSyncResult = self._call("cloud_run", _cloud_args(service, snapshot, paths, credentials_key, service_config, commit_manifest))
        return result

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._native.closed

    def close(self) -> None:
        """Stop the engine: cancel the jobs still running and wait for them to stop (their temporary files are
        removed, their reports say ``"cancelled"``), end every subscription, then stop the worker threads. The
        GIL is released meanwhile. Calling it again does nothing; any other call afterwards raises
        :class:`~syncwright.InvalidInputError`. A plan being computed is cancelled (it is a dry-run job). Called from a progress
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

    def build_manifest(self, root: PathArg, **options: Any) -> ManifestResult:
        """Scan the local folder ``root``; as :func:`syncwright.build_manifest` with the options as keyword
        arguments (``name``, ``include``, ``exclude``, ``links``, ``hash``, ``threads``, ``state_dir``). The
        hash cache of this engine's state directory is used unless ``state_dir`` is given."""
        from . import build_manifest

        if self._state_dir is not None:
            options.setdefault("state_dir", self._state_dir)
        return build_manifest(root, options)

    def plan(self, source: PathArg, dest: PathArg, **options: Any) -> Plan:
        """What a sync from ``source`` to ``dest`` would do, writing nothing: the canonical plan with
        ``schema_version``, ``compare``, ``actions`` (each ``{op, path, reason, size, entry?, dest?}``, sorted by
        path; identical entries only with ``list_identical=True``), ``errors`` and ``totals``.

        Blocks with the GIL released. Raises :class:`~syncwright.InvalidInputError` for bad options, and the
        error of the run when it fails as a whole (for example :class:`~syncwright.NotFoundError` for a missing
        source)."""
        result: Plan = json.loads(self._native.plan_json(os.fspath(source), os.fspath(dest), _options_json(options)))
        return result

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
    ) -> SyncReport:
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
    ) -> SyncReport:
        """Run a sync without blocking the event loop and return its report. Cancelling the awaiting task does not
        cancel the sync (aiohttp cancels a handler when its client goes away): it goes on, and
        :meth:`active_jobs` and :meth:`job` find it; to stop a sync, :meth:`start` it and call
        :meth:`Job.cancel`."""
        job = self.start(source, dest, on_progress=on_progress, **options)
        return await job

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


def _complete(fut: "asyncio.Future[Any]", error: Optional[BaseException], value: Any) -> None:
    if fut.done():
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(value)


class _Outcome:
    """Completes an asyncio future of the running loop with ``callback(error, value)`` from a library thread."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.future: "asyncio.Future[Any]" = self.loop.create_future()

    def __call__(self, error: Optional[BaseException], value: Any) -> None:  # runs on a library thread
        try:
            self.loop.call_soon_threadsafe(_complete, self.future, error, value)
        except RuntimeError:  # the loop was closed: nobody is waiting any more
            pass

    async def result(self) -> Any:
        # Shielded: cancelling the awaiting task leaves the call to finish (a job it starts goes on).
        return await asyncio.shield(self.future)


class AsyncEngine:
    """The front door for asyncio code (a ComfyUI extension inside aiohttp's loop): every call that can wait is a
    coroutine that never blocks the event loop. The work runs on the engine's threads, with the GIL released, and
    the result comes back through ``loop.call_soon_threadsafe``.

    Open one with ``await AsyncEngine.open(config_file=...)`` (the constructor takes an open :class:`Engine`)
    and close it with ``await engine.close()`` or ``async with``. Its calls, arguments and results are those of
    :class:`Engine`. Cancelling a task that awaits a call or a job does not cancel the work (aiohttp cancels
    handlers when a client goes away): a job stops only by :meth:`Job.cancel` or :meth:`close`.
    """

    __slots__ = ("_engine", "__weakref__")

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @classmethod
    async def open(
        cls,
        state_dir: Optional[PathArg] = None,
        *,
        config_file: Optional[PathArg] = None,
        config: Optional[Mapping[str, Any]] = None,
        no_store: bool = False,
        worker_threads: int = 0,
        log_dir: Optional[PathArg] = None,
    ) -> "AsyncEngine":
        """Open an engine (its config read and its store opened on a library thread) with the arguments of
        :class:`Engine`."""
        engine_config = _engine_config(state_dir, config_file, config, no_store, worker_threads, log_dir)
        outcome = _Outcome()
        _native.NativeEngine.open_async(json.dumps(engine_config), outcome)
        native = await outcome.result()
        return cls(Engine(state_dir, no_store=no_store, _native_engine=native))

    @property
    def engine(self) -> Engine:
        """The same engine with blocking calls (for code on other threads)."""
        return self._engine

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._engine.closed

    async def close(self) -> None:
        """Cancel the running jobs, wait for them to stop, end every subscription (on a library thread)."""
        outcome = _Outcome()
        self._engine._native.close_async(outcome)
        await outcome.result()

    async def __aenter__(self) -> "AsyncEngine":
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.close()

    async def _call(
        self, name: str, args: Optional[Dict[str, Any]] = None, on_progress: Optional[ProgressCallback] = None
    ) -> Any:
        outcome = _Outcome()
        self._engine._native.call_async(name, _args_json(args), on_progress, outcome)
        value = await outcome.result()
        if isinstance(value, _native.NativeJob):
            return Job(value)
        return _result(value)

    # -- syncs ---------------------------------------------------------------------------------------------------

    async def plan(self, source: PathArg, dest: PathArg, **options: Any) -> Plan:
        """:meth:`Engine.plan` on the engine's threads."""
        outcome = _Outcome()
        self._engine._native.plan_async(os.fspath(source), os.fspath(dest), _options_json(options), outcome)
        result: Plan = json.loads(await outcome.result())
        return result

    async def start(
        self, source: PathArg, dest: PathArg, *, on_progress: Optional[ProgressCallback] = None, **options: Any
    ) -> Job:
        """:meth:`Engine.start` off the event loop (starting records the job in the store)."""
        return await asyncio.get_running_loop().run_in_executor(
            None, functools.partial(self._engine.start, source, dest, on_progress=on_progress, **options)
        )

    async def sync(
        self, source: PathArg, dest: PathArg, *, on_progress: Optional[ProgressCallback] = None, **options: Any
    ) -> SyncReport:
        """Start a sync and await its report. Cancelling the awaiting task does not cancel the sync."""
        job = await self.start(source, dest, on_progress=on_progress, **options)
        return await job

    async def build_manifest(self, root: PathArg, **options: Any) -> ManifestResult:
        """:meth:`Engine.build_manifest` off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(
            None, functools.partial(self._engine.build_manifest, root, **options)
        )

    async def subscribe(self, since: Optional[int] = None, filter: Optional[Dict[str, Any]] = None) -> Subscription:
        """:meth:`Engine.subscribe` off the event loop (the kept events are read from the store); iterate it with
        ``async for``."""
        return await asyncio.get_running_loop().run_in_executor(
            None, functools.partial(self._engine.subscribe, since, filter)
        )

    # -- profiles ------------------------------------------------------------------------------------------------

    async def config(self) -> Config:
        """:meth:`Engine.config`."""
        result: Config = await self._call("config")
        return result

    async def profiles(self) -> List[ProfileInfo]:
        """:meth:`Engine.profiles`."""
        result: List[ProfileInfo] = await self._call("profiles")
        return result

    async def profile_status(self, name: str) -> ProfileStatus:
        """:meth:`Engine.profile_status`."""
        result: ProfileStatus = await self._call("profile_status", {"name": name})
        return result

    async def profiles_status(self) -> List[ProfileStatus]:
        """:meth:`Engine.profiles_status`."""
        result: List[ProfileStatus] = await self._call("profiles_status")
        return result

    async def profile_locks(self) -> List[ProfileLocks]:
        """:meth:`Engine.profile_locks`."""
        result: List[ProfileLocks] = await self._call("profile_locks")
        return result

    async def run_profile(self, name: str, *, on_progress: Optional[ProgressCallback] = None) -> Job:
        """:meth:`Engine.run_profile`: the job, once started (await it for its report)."""
        job: Job = await self._call("run_profile", {"name": name}, on_progress)
        return job

    async def run_all(self, *, on_progress: Optional[ProgressCallback] = None) -> Job:
        """:meth:`Engine.run_all`."""
        job: Job = await self._call("run_all", None, on_progress)
        return job

    async def unlock_profile(self, name: str, *, force: bool = False) -> UnlockReport:
        """:meth:`Engine.unlock_profile`."""
        result: UnlockReport = await self._call("unlock_profile", {"name": name, "force": force})
        return result

    async def unlock_all(self, *, force: bool = False) -> UnlockReport:
        """:meth:`Engine.unlock_all`."""
        result: UnlockReport = await self._call("unlock_all", {"force": force})
        return result

    async def lock_self_test(self, name: Optional[str] = None) -> LockSelfTest:
        """:meth:`Engine.lock_self_test`."""
        result: LockSelfTest = await self._call("lock_self_test", {"name": name})
        return result

    # -- jobs, history and logs ----------------------------------------------------------------------------------

    async def job(self, id: str) -> Job:
        """:meth:`Engine.job`."""
        job: Job = await self._call("job", {"id": id})
        return job

    async def jobs(self) -> List[JobSnapshot]:
        """:meth:`Engine.jobs`."""
        result: List[JobSnapshot] = await self._call("jobs")
        return result

    async def active_jobs(self) -> List[JobSnapshot]:
        """:meth:`Engine.active_jobs`."""
        result: List[JobSnapshot] = await self._call("active_jobs")
        return result

    async def recent_jobs(self, limit: int = 50) -> List[JobSnapshot]:
        """:meth:`Engine.recent_jobs`."""
        result: List[JobSnapshot] = await self._call("recent_jobs", {"limit": limit})
        return result

    async def run_history(self, profile: str, page: int = 1, per_page: int = 50) -> RunPage:
        """:meth:`Engine.run_history`."""
        args = {"profile": profile, "page": page, "per_page": per_page}
        result: RunPage = await self._call("run_history", args)
        return result

    async def profile_log_tail(
        self, profile: str, lines: int = 20, level: Optional[LogLevel] = None
    ) -> List[LogEntry]:
        """:meth:`Engine.profile_log_tail`."""
        args = {"profile": profile, "lines": lines, "level": level}
        result: List[LogEntry] = await self._call("profile_log_tail", args)
        return result

    async def profile_log_page(
        self, profile: str, page: int = 1, per_page: int = 50, level: Optional[LogLevel] = None
    ) -> LogPage:
        """:meth:`Engine.profile_log_page`."""
        args = {"profile": profile, "page": page, "per_page": per_page, "level": level}
        result: LogPage = await self._call("profile_log_page", args)
        return result

    async def storage_usage(
        self, *, models_root: Optional[PathArg] = None, root: Optional[PathArg] = None
    ) -> StorageUsage:
        """:meth:`Engine.storage_usage`."""
        args = {
            "models_root": None if models_root is None else os.fspath(models_root),
            "root": None if root is None else os.fspath(root),
        }
        result: StorageUsage = await self._call("storage_usage", args)
        return result

    # -- recovery ------------------------------------------------------------------------------------------------

    async def operations(self, *, active_only: bool = False, limit: int = 100) -> List[Operation]:
        """:meth:`Engine.operations`."""
        result: List[Operation] = await self._call("operations", {"active_only": active_only, "limit": limit})
        return result

    async def operation(self, id: str) -> Operation:
        """:meth:`Engine.operation`."""
        result: Operation = await self._call("operation", {"id": id})
        return result

    async def interrupted_operations(self) -> List[Operation]:
        """:meth:`Engine.interrupted_operations`."""
        result: List[Operation] = await self._call("interrupted_operations")
        return result

    async def cancel_operation(self, id: str) -> Operation:
        """:meth:`Engine.cancel_operation`."""
        result: Operation = await self._call("cancel_operation", {"id": id})
        return result

    async def retry_operation(self, id: str, *, force: bool = False, max_attempts: Optional[int] = None) -> Job:
        """:meth:`Engine.retry_operation`."""
        job: Job = await self._call("retry_operation", {"id": id, "force": force, "max_attempts": max_attempts})
        return job

    async def recovery_metrics(self) -> RecoveryMetrics:
        """:meth:`Engine.recovery_metrics`."""
        result: RecoveryMetrics = await self._call("recovery_metrics")
        return result

    async def recovery_scenarios(self) -> List[ScenarioInfo]:
        """:meth:`Engine.recovery_scenarios`."""
        result: List[ScenarioInfo] = await self._call("recovery_scenarios")
        return result

    async def recovery_self_test(self, scenarios: Optional[Sequence[str]] = None, runs: int = 1) -> SelfTestReport:
        """:meth:`Engine.recovery_self_test`."""
        result: SelfTestReport = await self._call("recovery_self_test", {"scenarios": list(scenarios or []), "runs": runs})
        return result

    async def breakers(self) -> List[BreakerStatus]:
        """:meth:`Engine.breakers`."""
        result: List[BreakerStatus] = await self._call("breakers")
        return result

    async def breaker_settings(self) -> BreakerSettings:
        """:meth:`Engine.breaker_settings`."""
        result: BreakerSettings = await self._call("breaker_settings")
        return result

    # -- the vault and document 3's cloud sync -------------------------------------------------------------------

    async def backup_create(self, label: Optional[str] = None, *, max_backups: Optional[int] = None, dir: Optional[PathArg] = None) -> BackupCreated:
        """:meth:`Engine.backup_create`."""
        result: BackupCreated = await self._call("backup_create", {"label": label, "max_backups": max_backups, "dir": _opt_path(dir)})
        return result

    async def backup_list(self, dir: Optional[PathArg] = None) -> List[BackupInfo]:
        """:meth:`Engine.backup_list`."""
        result: List[BackupInfo] = await self._call("backup_list", {"dir": _opt_path(dir)})
        return result

    async def backup_verify(self, name: PathArg, *, dir: Optional[PathArg] = None) -> BackupVerify:
        """:meth:`Engine.backup_verify`."""
        result: BackupVerify = await self._call("backup_verify", {"name": os.fspath(name), "dir": _opt_path(dir)})
        return result

    async def backup_restore(self, name: PathArg, *, target: Optional[PathArg] = None, replace_existing: bool = False, dir: Optional[PathArg] = None) -> BackupRestoreReport:
        """:meth:`Engine.backup_restore`."""
        result: BackupRestoreReport = await self._call("backup_restore", {"name": os.fspath(name), "target": _opt_path(target), "replace_existing": replace_existing, "dir": _opt_path(dir)})
        return result

    async def media_info(self, paths: Sequence[PathArg]) -> List[MediaInfo]:
        """:meth:`Engine.media_info`."""
        result: List[MediaInfo] = await self._call("media_info", {"paths": [os.fspath(p) for p in paths]})
        return result

    async def vault_status(self) -> VaultStatus:
        """:meth:`Engine.vault_status`."""
        result: VaultStatus = await self._call("vault_status")
        return result

    async def vault_init(self, passphrase: Optional[str] = None) -> VaultStatus:
        """:meth:`Engine.vault_init`."""
        result: VaultStatus = await self._call("vault_init", {"passphrase": passphrase})
        return result

    async def vault_unlock(self, passphrase: Optional[str] = None) -> VaultStatus:
        """:meth:`Engine.vault_unlock`."""
        result: VaultStatus = await self._call("vault_unlock", {"passphrase": passphrase})
        return result

    async def vault_lock(self) -> VaultStatus:
        """:meth:`Engine.vault_lock`."""
        result: VaultStatus = await self._call("vault_lock")
        return result

    async def vault_keys(self, passphrase: Optional[str] = None) -> List[str]:
        """:meth:`Engine.vault_keys`."""
        result: List[str] = await self._call("vault_keys", {"passphrase": passphrase})
        return result

    async def vault_get(self, key: str, passphrase: Optional[str] = None) -> VaultValue:
        """:meth:`Engine.vault_get`."""
        result: VaultValue = await self._call("vault_get", {"key": key, "passphrase": passphrase})
        return result

    async def vault_set(self, key: str, value: Union[str, Dict[str, Any]], passphrase: Optional[str] = None) -> List[str]:
        """:meth:`Engine.vault_set`."""
        result: List[str] = await self._call("vault_set", {"key": key, "value": value, "passphrase": passphrase})
        return result

    async def vault_delete(self, key: str, passphrase: Optional[str] = None) -> List[str]:
        """:meth:`Engine.vault_delete`."""
        result: List[str] = await self._call("vault_delete", {"key": key, "passphrase": passphrase})
        return result

    async def vault_change_passphrase(self, new_passphrase: Optional[str] = None, passphrase: Optional[str] = None) -> VaultStatus:
        """:meth:`Engine.vault_change_passphrase`."""
        result: VaultStatus = await self._call("vault_change_passphrase", {"new_passphrase": new_passphrase, "passphrase": passphrase})
        return result

    async def vault_restore_backup(self, passphrase: Optional[str] = None) -> VaultRestore:
        """:meth:`Engine.vault_restore_backup`."""
        result: VaultRestore = await self._call("vault_restore_backup", {"passphrase": passphrase})
        return result

    async def vault_import_rclone(self, path: PathArg, *, prefix: Optional[str] = None, passphrase: Optional[str] = None) -> RcloneImport:
        """:meth:`Engine.vault_import_rclone`."""
        result: RcloneImport = await self._call("vault_import_rclone", {"path": os.fspath(path), "prefix": prefix, "passphrase": passphrase})
        return result

    async def cloud_manifest(self, snapshot: Optional[str] = None, include: Optional[Sequence[str]] = None) -> CloudManifest:
        """:meth:`Engine.cloud_manifest`."""
        result: CloudManifest = await self._call("cloud_manifest", {"snapshot": snapshot, "include": None if include is None else list(include)})
        return result

    async def cloud_dry_run(self, service: str, *, snapshot: Optional[str] = None, paths: Optional[Sequence[str]] = None, credentials_key: Optional[str] = None, service_config: Optional[CloudServiceConfig] = None) -> CloudSyncResult:
        """:meth:`Engine.cloud_dry_run`."""
        result: CloudSyncResult = await self._call("cloud_dry_run", _cloud_args(service, snapshot, paths, credentials_key, service_config, None))
        return result

    async def cloud_run(self, service: str, *, snapshot: Optional[str] = None, paths: Optional[Sequence[str]] = None, credentials_key: Optional[str] = None, service_config: Optional[CloudServiceConfig] = None, commit_manifest: Optional[bool] = None) -> CloudSyncResult:
        """:meth:`Engine.cloud_run`."""
        result: CloudSyncResult = await self._call("cloud_run", _cloud_args(service, snapshot, paths, credentials_key, service_config, commit_manifest))
        return result

    def __repr__(self) -> str:
        return f"<syncwright.AsyncEngine{' closed' if self.closed else ''}>"


def _engine_config(
    state_dir: Optional[PathArg],
    config_file: Optional[PathArg],
    config: Optional[Mapping[str, Any]],
    no_store: bool,
    worker_threads: int,
    log_dir: Optional[PathArg],
) -> Dict[str, Any]:
    if config is not None and not isinstance(config, Mapping):
        raise TypeError(f"config must be a mapping or None, not {type(config).__name__}")
    return {
        "state_dir": None if state_dir is None else os.fspath(state_dir),
        "config_file": None if config_file is None else os.fspath(config_file),
        "config": None if config is None else dict(config),
        "no_store": no_store,
        "worker_threads": worker_threads,
        "log_dir": None if log_dir is None else os.fspath(log_dir),
    }


def _args_json(args: Optional[Dict[str, Any]]) -> Optional[str]:
    # Arguments left as None take core's defaults.
    if not args:
        return None
    return json.dumps({k: v for k, v in args.items() if v is not None})


def _result(value: Any) -> Any:
    # A call gives canonical JSON text, or a native job.
    return json.loads(value) if isinstance(value, str) else value


def _loads(text: str) -> Dict[str, Any]:
    result: Dict[str, Any] = json.loads(text)
    return result


def _report(text: str) -> SyncReport:
    return cast(SyncReport, json.loads(text))


def _event(text: str) -> Event:
    return cast(Event, json.loads(text))


# Engines not closed yet; closed at exit, while the interpreter still runs the jobs' callbacks.
_open_engines: "weakref.WeakSet[Engine]" = weakref.WeakSet()


@atexit.register
def _close_open_engines() -> None:
    for engine in list(_open_engines):
        engine.close()
