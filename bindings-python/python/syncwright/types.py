"""The documents of syncwright as TypedDicts: the canonical snake_case JSON that core makes with serde, as dicts.

Every value syncwright hands out is one of these, exactly as core writes it: a key declared without ``Optional``
is never ``None``; a key declared in a ``total=False`` class (in the document's ``__optional_keys__``; the keys
every document has are in a ``_...Required`` base) is left out when unset rather than set to ``None``. Integers stay
``int``; a ``float`` key may hold an ``int`` when the value is whole.

The option dicts (:class:`SyncOptions`, :class:`EngineConfig`, :class:`EventFilter`, :class:`UsageQuery`,
:class:`ManifestOptions`) are ``total=False``: give only the keys you set.
"""

from typing import Any, Dict, List, Literal, Optional, TypedDict, Union

__all__ = [
    # words
    "BackoffType",
    "BreakerState",
    "CompareMode",
    "DestChangedPolicy",
    "EntryKind",
    "ErrorAction",
    "ErrorKind",
    "EventType",
    "JobStatus",
    "LinkMode",
    "LockStateName",
    "LogLevel",
    "OperationState",
    "Outcome",
    "PlanOp",
    "PlanReason",
    "Preset",
    "ProfileKind",
    "ProfileState",
    "RecoveryCategory",
    "Removal",
    "ReportType",
    "ScenarioCategory",
    "Stage",
    "WarningReason",
    # progress, reports, plans, manifests
    "ProgressSnapshot",
    "Stats",
    "SyncStats",
    "FileError",
    "Warning",
    "ManifestEntry",
    "Manifest",
    "ManifestResult",
    "PlanAction",
    "PlanTotals",
    "Plan",
    "SyncReport",
    "RunAllReport",
    "ProfileError",
    "ProfileResult",
    # jobs, history, logs
    "JobSnapshot",
    "RunRecord",
    "Pagination",
    "RunPage",
    "LogEntry",
    "LogPage",
    # profiles and locks
    "ProfileInfo",
    "RunningJob",
    "LastRun",
    "LockInfo",
    "LockState",
    "LockStatus",
    "ProfileStatus",
    "ProfileLocks",
    "RemovedLock",
    "UnlockReport",
    "LockSelfTest",
    # storage
    "SizeEntry",
    "DiskUsage",
    "StorageUsage",
    # recovery
    "Operation",
    "ExponentialBackoff",
    "LinearBackoff",
    "FixedBackoff",
    "Backoff",
    "RetryPolicy",
    "BreakerConfig",
    "BreakerSettings",
    "BreakerStatus",
    "BreakerTransition",
    "RecoveryMetrics",
    "ScenarioInfo",
    "ScenarioResult",
    "SelfTestReport",
    # config
    "SftpConfig",
    "S3Config",
    "GdriveConfig",
    "RemoteConfig",
    "Profile",
    "Settings",
    "VaultKdf",
    "Features",
    "CloudS3Config",
    "CloudGdriveConfig",
    "CloudSyncConfig",
    "BackupConfig",
    "Config",
    # generation metadata
    "Lora",
    "GenerationMetadata",
    "MediaError",
    "MediaInfo",
    # local backups
    "BackupCreated",
    "BackupInfo",
    "BackupProblem",
    "BackupVerify",
    "BackupFailedFile",
    "BackupRestoreReport",
    # the vault and cloud sync
    "VaultStatus",
    "VaultValue",
    "VaultRestore",
    "RcloneImported",
    "RcloneSkipped",
    "RcloneImport",
    "CloudManifestSummary",
    "CloudManifest",
    "CloudAction",
    "CloudError",
    "CloudSummary",
    "CloudSyncResult",
    "CloudServiceConfig",
    # events
    "JobQueuedEvent",
    "JobStartedEvent",
    "ProgressEvent",
    "LockTakenEvent",
    "LockReleasedEvent",
    "LockBrokenEvent",
    "RecoveryUpdateEvent",
    "RecoveryCompletedEvent",
    "BreakerEvent",
    "LogEvent",
    "JobFinishedEvent",
    "Event",
    # options
    "SftpOptions",
    "S3Options",
    "GdriveOptions",
    "RemoteOptions",
    "SyncOptions",
    "ManifestOptions",
    "EngineConfig",
    "EventFilter",
    "UsageQuery",
]

# -- words ---------------------------------------------------------------------------------------------------------

#: The level of a profile log entry.
LogLevel = Literal["debug", "info", "warning", "error"]

#: The stable error kinds (an error's ``kind``), in code order.
ErrorKind = Literal[
    "not_found",
    "invalid_input",
    "conflict",
    "permission",
    "network",
    "timeout",
    "resource",
    "auth",
    "corrupt",
    "cancelled",
    "unavailable",
    "feature_disabled",
    "internal",
]

#: The status of a job or run.
JobStatus = Literal["queued", "running", "completed", "partial", "failed", "cancelled", "interrupted"]

#: Where a run is.
Stage = Literal["queued", "scanning", "planning", "transferring", "deleting", "committing", "done"]

#: How source and destination entries are compared.
CompareMode = Literal["size_mtime", "checksum", "size_only"]

#: Symlink handling.
LinkMode = Literal["preserve", "follow", "skip"]

#: What a sync does with destination files edited since syncwright wrote them.
DestChangedPolicy = Literal["overwrite", "skip", "keep_both"]

#: What a manifest entry is.
EntryKind = Literal["file", "symlink", "dir"]

#: What a planned action does.
PlanOp = Literal["copy", "symlink", "mkdir", "set_meta", "delete", "keep", "skip"]

#: Why an action is in a plan.
PlanReason = Literal[
    "new",
    "size_changed",
    "newer",
    "older",
    "content_mismatch",
    "type_changed",
    "mode_changed",
    "mtime_changed",
    "missing_at_source",
    "dest_changed",
    "identical",
    "busy",
    "unsupported",
]

#: What a failed step was doing.
ErrorAction = Literal["scan", "plan", "copy", "mkdir", "symlink", "delete", "commit", "run"]

#: Why something was left out without being an error.
WarningReason = Literal[
    "special_file",
    "non_utf8_name",
    "symlink_loop",
    "dangling_symlink",
    "symlink_skipped",
    "busy",
    "still_changing",
    "dest_changed",
    "deletes_skipped",
    "temporary_swept",
    "backed_up",
    "remote_unreachable",
    "manifest_not_committed",
    "host_key_not_checked",
    "unusable_name",
    "no_content",
    "duplicate_name",
    "state_store_recovered",
]

#: What a report is of.
ReportType = Literal["sync", "command", "run_all"]

#: What a profile does.
ProfileKind = Literal["sync", "command"]

#: A profile's state in one word: ``running``, else its last run's outcome, else ``idle``.
ProfileState = Literal["running", "success", "error", "idle"]

#: The outcome word of an ended run.
Outcome = Literal["success", "error"]

#: Whether a lock is in force.
LockStateName = Literal["held", "stale"]

#: Why an unlock removed a lock.
Removal = Literal["stale", "cancelled", "forced"]

#: Where a recovery operation is.
OperationState = Literal["pending", "in_progress", "recovering", "success", "failed", "exhausted", "cancelled"]

#: The state of a circuit breaker.
BreakerState = Literal["closed", "open", "half_open"]

#: An error category of the recovery layer.
RecoveryCategory = Literal[
    "network_timeout",
    "network_connection",
    "network_dns",
    "network_tls",
    "service_unavailable",
    "rate_limited",
    "resource_disk",
    "resource_memory",
    "resource_quota",
    "permission",
    "auth",
    "validation",
    "corruption",
    "configuration",
    "unknown",
]

#: How retry delays grow.
BackoffType = Literal["exponential", "linear", "fixed"]

#: The broad class of a self-test scenario's fault.
ScenarioCategory = Literal["network", "service", "resource", "data"]

#: A profile's preset of default excludes.
Preset = Literal["none", "cloud", "comfyui", "media"]

#: The ``type`` of every event.
EventType = Literal[
    "job_queued",
    "job_started",
    "progress",
    "lock_taken",
    "lock_released",
    "lock_broken",
    "recovery_update",
    "recovery_completed",
    "breaker",
    "log",
    "job_finished",
]

# -- progress, reports, plans, manifests ---------------------------------------------------------------------------


class ProgressSnapshot(TypedDict):
    """The progress of a run at one moment (``percent`` 0 to 100, 100 at stage ``done``)."""

    stage: Stage
    current_file: Optional[str]
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    scanned: int
    rate_bps: float
    eta_secs: Optional[float]
    percent: float
    elapsed_ms: int


class Stats(TypedDict):
    """The counts of a run (a report's and a finished job's ``stats``)."""

    created: int
    updated: int
    deleted: int
    unchanged: int
    skipped: int
    dirs_created: int
    errors: int
    warnings: int
    retries: int
    bytes_transferred: int
    bytes_planned: int
    files_planned: int


#: The name core (and the Node typings) give :class:`Stats`.
SyncStats = Stats


class _FileErrorRequired(TypedDict):
    """The keys every :class:`FileError` has."""

    action: ErrorAction
    path: str
    error: str
    kind: ErrorKind


class FileError(_FileErrorRequired, total=False):
    """One failed file or step; ``details`` only when the error has structured facts (a conflict's holder)."""

    details: Dict[str, Any]


class Warning(TypedDict):
    """Something left out or worth a look that did not fail the run."""

    path: str
    reason: WarningReason
    message: str


class _ManifestEntryRequired(TypedDict):
    """The keys every :class:`ManifestEntry` has."""

    path: str
    kind: EntryKind
    size: int
    mtime_ns: int
    mode: int


class ManifestEntry(_ManifestEntryRequired, total=False):
    """One file, symlink or empty directory of a tree (``target`` for links, ``hashes`` when there are any)."""

    target: str
    hashes: Dict[str, str]


class Manifest(TypedDict):
    """A canonical manifest document: entries sorted by path, their count and checksum."""

    schema_version: int
    name: str
    root: str
    created_at: str
    entries: List[ManifestEntry]
    entry_count: int
    checksum: str


class ManifestResult(TypedDict):
    """What ``build_manifest`` gives: the manifest, what was left out on purpose, what could not be read."""

    manifest: Manifest
    warnings: List[Warning]
    errors: List[FileError]


class _PlanActionRequired(TypedDict):
    """The keys every :class:`PlanAction` has."""

    op: PlanOp
    path: str
    reason: PlanReason
    size: int


class PlanAction(_PlanActionRequired, total=False):
    """One planned action, with the source ``entry`` and the destination entry (``dest``) it concerns."""

    entry: ManifestEntry
    dest: ManifestEntry


class PlanTotals(TypedDict):
    """The counts of a plan."""

    identical: int
    copy_files: int
    copy_bytes: int
    new_files: int
    updated_files: int
    symlinks: int
    mkdirs: int
    set_meta: int
    deletes: int
    extra_at_dest: int
    skipped: int
    errors: int
    dest_files: int


class Plan(TypedDict):
    """What a sync would do: its actions sorted by path, errors and totals."""

    schema_version: int
    compare: CompareMode
    actions: List[PlanAction]
    errors: List[FileError]
    totals: PlanTotals


class _ReportRequired(TypedDict):
    """The keys every report has (a sync's, a command profile's, a run-all's)."""

    schema_version: int
    run_id: str
    status: JobStatus
    dry_run: bool
    source: str
    destination: str
    started_at: str
    finished_at: str
    duration_ms: int
    stats: Stats
    errors: List[FileError]
    warnings: List[Warning]


class _SyncReportRequired(_ReportRequired):
    """The keys every :class:`SyncReport` has."""

    type: ReportType


class SyncReport(_SyncReportRequired, total=False):
    """The outcome of a run; ``plan`` (dry runs), ``fatal``, ``output`` (commands) and the run-all keys only when set."""

    plan: Plan
    fatal: FileError
    output: str
    total: int
    successful: List[str]
    failed: List[str]
    results: Dict[str, "ProfileResult"]


class _RunAllReportRequired(_ReportRequired):
    """The keys every :class:`RunAllReport` has."""

    type: Literal["run_all"]
    total: int
    successful: List[str]
    failed: List[str]
    results: Dict[str, "ProfileResult"]


class RunAllReport(_RunAllReportRequired, total=False):
    """The report of ``run_all`` (a :class:`SyncReport` with ``type`` ``run_all``): one result per profile."""

    plan: Plan
    fatal: FileError
    output: str


class _ProfileErrorRequired(TypedDict):
    """The keys every :class:`ProfileError` has."""

    kind: ErrorKind
    error: str


class ProfileError(_ProfileErrorRequired, total=False):
    """Why a profile of a run-all could not start (already running, a bad profile)."""

    details: Dict[str, Any]


#: The outcome of one profile in a run-all: its report, or why it could not start.
ProfileResult = Union[SyncReport, ProfileError]

# -- jobs, history, logs -------------------------------------------------------------------------------------------


class _JobSnapshotRequired(TypedDict):
    """The keys every :class:`JobSnapshot` has."""

    job_id: str
    sync_id: str
    profile: Optional[str]
    source: str
    destination: str
    started_at: str
    status: JobStatus
    progress: ProgressSnapshot
    finished_at: Optional[str]


class JobSnapshot(_JobSnapshotRequired, total=False):
    """A job as it is now; ``report`` only when asked for and once it ended."""

    report: SyncReport


class RunRecord(TypedDict):
    """One run of a profile as the history keeps it (``finished_at``, ``duration_ms``, ``stats`` once ended)."""

    job_id: str
    sync_id: str
    profile: Optional[str]
    source: str
    destination: str
    status: JobStatus
    started_at: str
    finished_at: Optional[str]
    duration_ms: Optional[int]
    error: Optional[str]
    stats: Optional[Stats]
    pid: int
    host: str


class Pagination(TypedDict):
    """Where a page is: ``page`` from 1, ``total`` items, ``pages`` pages."""

    page: int
    per_page: int
    total: int
    pages: int


class RunPage(TypedDict):
    """A page of a profile's run history, newest first."""

    profile: str
    runs: List[RunRecord]
    pagination: Pagination


class LogEntry(TypedDict):
    """One entry of a profile's log (``data`` is ``{}`` when there are no details)."""

    timestamp: str
    level: LogLevel
    message: str
    data: Dict[str, Any]


class LogPage(TypedDict):
    """A page of a profile's log, oldest first."""

    logs: List[LogEntry]
    pagination: Pagination


# -- profiles and locks --------------------------------------------------------------------------------------------


class ProfileInfo(TypedDict):
    """A profile as configured (a command profile has ``command`` and no ``source``/``destination``)."""

    name: str
    kind: ProfileKind
    source: Optional[str]
    destination: Optional[str]
    command: Optional[List[str]]
    interval_secs: Optional[float]
    delete: bool


class RunningJob(TypedDict):
    """The run a profile's lock names (``this_engine``: a job of this engine runs it)."""

    job_id: Optional[str]
    started_at: str
    pid: int
    host: str
    this_engine: bool


class LastRun(TypedDict):
    """A profile's last ended run, from the history."""

    job_id: str
    status: JobStatus
    outcome: Outcome
    started_at: str
    finished_at: Optional[str]
    duration_ms: Optional[int]
    error: Optional[str]
    stats: Optional[Stats]


class _LockInfoRequired(TypedDict):
    """The keys every :class:`LockInfo` has."""

    name: str
    profile: Optional[str]
    job_id: Optional[str]
    instance_id: str
    pid: int
    host: str
    started_at: str
    lease_until: str
    token: str


class LockInfo(_LockInfoRequired, total=False):
    """What a lock file holds; ``destination`` only in destination locks."""

    destination: str


class _LockStateRequired(TypedDict):
    """The keys every :class:`LockState` has."""

    info: LockInfo
    state: LockStateName
    location: str


class LockState(_LockStateRequired, total=False):
    """A lock as found in its folder (core's ``LockStatus``): held or stale, with the ``reason`` when stale."""

    reason: str


#: Core's name of :class:`LockState`.
LockStatus = LockState


class ProfileStatus(TypedDict):
    """A profile now: whether it runs, its locks, its last run and a one-line ``summary``."""

    profile: str
    running: bool
    job: Optional[RunningJob]
    state: ProfileState
    lock: Optional[LockState]
    destination_lock: Optional[LockState]
    destination_lock_error: Optional[str]
    last_run: Optional[LastRun]
    config: ProfileInfo
    summary: str


class _ProfileLocksRequired(TypedDict):
    """The keys every :class:`ProfileLocks` has."""

    profile: str
    lock: Optional[LockState]
    destination_lock: Optional[LockState]


class ProfileLocks(_ProfileLocksRequired, total=False):
    """A profile's locks; ``destination_error`` only when the destination's lock could not be looked at."""

    destination_error: str


class RemovedLock(TypedDict):
    """A lock an unlock removed, and why it could go."""

    name: str
    location: str
    reason: Removal
    job_id: Optional[str]


class UnlockReport(TypedDict):
    """What an unlock did: locks removed, jobs cancelled for it, folders that could not be cleared."""

    removed: List[RemovedLock]
    cancelled_jobs: List[str]
    errors: List[str]


class LockSelfTest(TypedDict):
    """What the lock self-test did: the steps that passed, in the coordination folder ``location``."""

    name: str
    location: str
    steps: List[str]


# -- storage -------------------------------------------------------------------------------------------------------


class SizeEntry(TypedDict):
    """A size in bytes with its human-readable form (``117.74 MB``)."""

    size: int
    human_readable: str


class DiskUsage(TypedDict):
    """Space on the file system that holds a tree (``percent``: used of used + free)."""

    total: int
    used: int
    free: int
    percent: float
    total_human_readable: str
    used_human_readable: str
    free_human_readable: str


class StorageUsage(TypedDict):
    """What folders hold, by model type, by profile and by top-level folder; ``disk`` when a folder was given."""

    total_size: int
    total_human_readable: str
    by_type: Dict[str, SizeEntry]
    by_project: Dict[str, SizeEntry]
    by_folder: Dict[str, SizeEntry]
    disk: Optional[DiskUsage]


# -- recovery ------------------------------------------------------------------------------------------------------


class _OperationRequired(TypedDict):
    """The keys every :class:`Operation` has."""

    operation_id: str
    function_name: str
    state: OperationState
    attempt: int
    max_attempts: int
    created_at: str
    updated_at: str
    metadata: Dict[str, Any]


class Operation(_OperationRequired, total=False):
    """A stored recovery operation (one per job, with the job's id); ``error`` once one occurred."""

    error: str


class ExponentialBackoff(TypedDict):
    """Delays of ``initial * factor^(n-1)``."""

    type: Literal["exponential"]
    factor: float


class LinearBackoff(TypedDict):
    """Delays of ``initial * n``."""

    type: Literal["linear"]


class FixedBackoff(TypedDict):
    """The initial delay every time."""

    type: Literal["fixed"]


#: How retry delays grow (by ``type``).
Backoff = Union[ExponentialBackoff, LinearBackoff, FixedBackoff]


class RetryPolicy(TypedDict):
    """When and how often one category of failure is retried (delays in seconds, ``jitter`` a share either way)."""

    backoff: Backoff
    max_attempts: int
    initial_delay: float
    max_delay: float
    jitter: float


class BreakerConfig(TypedDict):
    """When a circuit breaker opens and for how long (the fields of ``[settings.breaker]``)."""

    failure_threshold: int
    failure_rate: float
    window_secs: float
    min_calls: int
    cooldown_secs: float
    half_open_probes: int


class BreakerSettings(BreakerConfig, total=False):
    """``[settings.breaker]``: the defaults' fields, and ``targets`` (each's config in force) when there are any."""

    targets: Dict[str, BreakerConfig]


class BreakerStatus(TypedDict):
    """A circuit breaker of a remote target: its state, failures, trips and the config in force."""

    target: str
    state: BreakerState
    consecutive_failures: int
    trips: int
    opened_at: Optional[str]
    next_probe_at: Optional[str]
    timeout_remaining: float
    config: BreakerConfig


# ``from`` is a keyword: the functional form.
BreakerTransition = TypedDict(
    "BreakerTransition",
    {"target": str, "from": BreakerState, "to": BreakerState, "timeout_remaining": float},
)
BreakerTransition.__doc__ = """A circuit breaker's change of state (a ``breaker`` event's ``transition``)."""


class RecoveryMetrics(TypedDict):
    """Recovery figures over the stored operations, breaker trips, and the settings in effect."""

    total_operations: int
    active_operations: int
    recovered_operations: int
    failed_operations: int
    average_recovery_time: float
    retry_attempts: int
    success_rate: float
    average_attempts_per_recovery: float
    circuit_breaker_trips: int
    persistence: bool
    max_attempts: int
    retry: Dict[RecoveryCategory, RetryPolicy]
    breaker: BreakerSettings


class ScenarioInfo(TypedDict):
    """A scenario of the recovery self-test (``id`` is the name ``recovery_self_test`` takes)."""

    id: str
    name: str
    description: str
    category: ScenarioCategory
    error_category: RecoveryCategory
    expect_recovery: bool


class ScenarioResult(TypedDict):
    """What one self-test scenario measured."""

    name: str
    description: str
    runs: int
    as_expected: int
    success_rate: float
    retries: int
    average_recovery_ms: float
    overhead_percent: float
    passed: bool


class SelfTestReport(TypedDict):
    """What the recovery self-test measured: the baseline, each scenario, ``PASS`` or ``FAIL``."""

    baseline_ms: float
    scenarios: List[ScenarioResult]
    overall: Literal["PASS", "FAIL"]


# -- config --------------------------------------------------------------------------------------------------------


class _SftpConfigRequired(TypedDict):
    """The keys every :class:`SftpConfig` has."""

    key_file: Optional[str]
    agent: bool
    known_hosts: Optional[str]
    insecure_ignore_host_key: bool
    sessions: int
    timeout_secs: int


class SftpConfig(_SftpConfigRequired, total=False):
    """A profile's SFTP options as the config document shows them (a secret set is there as None)."""

    passphrase: None
    credentials_key: str


class _S3ConfigRequired(TypedDict):
    """The keys every :class:`S3Config` has."""

    region: Optional[str]
    endpoint_url: Optional[str]
    path_style: Optional[bool]
    multipart_threshold: int
    part_size: int
    part_concurrency: int
    stale_upload_hours: int


class S3Config(_S3ConfigRequired, total=False):
    """A profile's S3 options as the config document shows them (a secret set is there as None)."""

    access_key_id: None
    secret_access_key: None
    session_token: None
    credentials_key: str


class _GdriveConfigRequired(TypedDict):
    """The keys every :class:`GdriveConfig` has."""

    credentials: Optional[str]
    manifest_parent_id: Optional[str]
    scopes: List[str]
    api_base: Optional[str]
    chunk_size: int


class GdriveConfig(_GdriveConfigRequired, total=False):
    """A profile's Google Drive options as the config document shows them."""

    credentials_key: str


class RemoteConfig(TypedDict):
    """How a profile reaches remote locations, as the config document shows it."""

    sftp: SftpConfig
    s3: S3Config
    gdrive: GdriveConfig


class Profile(TypedDict):
    """A profile of the config document (durations and rates as written: seconds or bytes, or text with a unit)."""

    source: Optional[str]
    destination: Optional[str]
    command: Optional[List[str]]
    preset: Preset
    include: List[str]
    exclude: List[str]
    compare: CompareMode
    links: LinkMode
    min_age: Optional[Union[float, str]]
    delete: bool
    max_delete: Optional[int]
    delete_excluded: bool
    allow_empty_source: bool
    backup_dir: Optional[str]
    dest_changed: DestChangedPolicy
    transfers: Optional[int]
    bwlimit: Optional[Union[int, str]]
    timeout: Optional[Union[float, str]]
    interval: Optional[Union[float, str]]
    verify: bool
    rescan_dest: bool
    trust_dest_manifest: bool
    max_attempts: Optional[int]
    retry: Optional[Dict[RecoveryCategory, RetryPolicy]]
    commit_manifest: Optional[bool]
    remote: RemoteConfig


class VaultKdf(TypedDict):
    """Argon2id's parameters of the vault: memory in KiB, passes, lanes."""

    m_kib: int
    t: int
    p: int


class Settings(TypedDict):
    """The ``[settings]`` of the config document."""

    coordination_dir: Optional[str]
    state_dir: Optional[str]
    log_dir: Optional[str]
    log_max_size: Optional[Union[int, str]]
    lock_lease: Optional[Union[float, str]]
    breaker: BreakerSettings
    event_retention: Optional[Union[float, str]]
    event_retention_max: Optional[int]
    vault: Optional[str]
    vault_kdf: Optional["VaultKdf"]


class Features(TypedDict):
    """The ``[features]`` of the config document: cloud sync is off until these turn it on."""

    enable_cloud_sync: bool
    enable_cloud_sync_s3: bool
    enable_cloud_sync_gdrive: bool


class CloudS3Config(TypedDict):
    """``[cloud_sync.s3]``: the bucket, prefix, region, endpoint and vault key of document 3's S3 sync."""

    bucket: Optional[str]
    prefix: Optional[str]
    region: Optional[str]
    endpoint_url: Optional[str]
    path_style: Optional[bool]
    credentials_key: Optional[str]


class CloudGdriveConfig(TypedDict):
    """``[cloud_sync.gdrive]``: the folders, API base and vault key of document 3's Drive sync."""

    parent_id: Optional[str]
    manifest_parent_id: Optional[str]
    credentials_key: Optional[str]
    api_base: Optional[str]


class CloudSyncConfig(TypedDict):
    """``[cloud_sync]``: the tree document 3's cloud sync mirrors, and its services."""

    root: Optional[str]
    include: List[str]
    exclude: List[str]
    snapshot_prefix: str
    default_snapshot: str
    s3: CloudS3Config
    gdrive: CloudGdriveConfig


class BackupConfig(TypedDict):
    """``[backup]``: what local backups archive and where they go."""

    root: Optional[str]
    paths: List[str]
    dir: Optional[str]
    max_backups: int


class Config(TypedDict):
    """The profiles and settings an engine owns (the config file's schema; secrets are None)."""

    settings: Settings
    profiles: Dict[str, Profile]
    features: Features
    cloud_sync: CloudSyncConfig
    backup: BackupConfig


# -- generation metadata -------------------------------------------------------------------------------------------


class Lora(TypedDict):
    """A LoRA of a generation: its name, weight (None when only a hash names it) and short hash."""

    name: str
    weight: Optional[float]
    hash: Optional[str]


class _GenerationMetadataRequired(TypedDict):
    """The keys every :class:`GenerationMetadata` has."""

    schema_version: int
    generator: Literal["a1111", "comfyui"]
    format: Literal["png", "jpeg", "webp"]
    parameters: Optional[str]
    prompt: Optional[str]
    negative_prompt: Optional[str]
    steps: Optional[int]
    sampler: Optional[str]
    scheduler: Optional[str]
    cfg_scale: Optional[float]
    seed: Optional[int]
    width: Optional[int]
    height: Optional[int]
    model: Optional[str]
    model_hash: Optional[str]
    loras: List[Lora]
    extra: Dict[str, str]
    comfy_prompt: Optional[Dict[str, Any]]
    comfy_workflow: Optional[Dict[str, Any]]


class GenerationMetadata(_GenerationMetadataRequired, total=False):
    """An image's generation parameters, as its metadata gives them (A1111 text or a ComfyUI graph)."""

    warnings: List[str]


class MediaError(TypedDict):
    """Why a file could not be read."""

    kind: ErrorKind
    message: str


class MediaInfo(TypedDict):
    """What ``media_info`` gives for one file."""

    schema_version: int
    path: str
    format: Optional[Literal["png", "jpeg", "webp"]]
    size: Optional[int]
    metadata: Optional[GenerationMetadata]
    error: Optional[MediaError]


# -- local backups -------------------------------------------------------------------------------------------------


class BackupCreated(TypedDict):
    """What ``backup_create`` made: the archive, its entries and bytes, and the archives rotation removed."""

    name: str
    path: str
    size: int
    created_at: str
    label: Optional[str]
    entries: int
    bytes: int
    rotated: List[str]
    warnings: List[str]


class BackupInfo(TypedDict):
    """An archive of the backups folder."""

    name: str
    path: str
    size: int
    created_at: str
    label: Optional[str]
    entries: int


class BackupProblem(TypedDict):
    """Something wrong with one entry of an archive."""

    path: str
    problem: str


class BackupVerify(TypedDict):
    """What ``backup_verify`` found."""

    name: str
    entries: int
    bytes: int
    ok: bool
    problems: List[BackupProblem]


class BackupFailedFile(TypedDict):
    """A file a restore could not put in place (the old one is kept)."""

    path: str
    error: str


class BackupRestoreReport(TypedDict):
    """What ``backup_restore`` did: ``completed``, or ``partial`` when a file failed."""

    archive: str
    target: str
    status: Literal["completed", "partial"]
    restored: List[str]
    kept: List[str]
    failed: List[BackupFailedFile]
    bytes: int


# -- the vault -----------------------------------------------------------------------------------------------------


class VaultStatus(TypedDict):
    """Where the engine's vault is, whether it exists and is unlocked (no secret)."""

    schema_version: int
    path: str
    exists: bool
    unlocked: bool
    kdf: VaultKdf
    passphrase_env: str
    passphrase_env_set: bool


class VaultValue(TypedDict):
    """A value read from the vault: a string, or an object (an S3 key pair, a service account)."""

    key: str
    value: Union[str, Dict[str, Any]]


class VaultRestore(TypedDict):
    """What ``vault_restore_backup`` did: whether a backup (1: the newest) was written back."""

    restored: bool
    backup: Optional[int]


class _RcloneImportedRequired(TypedDict):
    """The keys every :class:`RcloneImported` has."""

    section: str
    service: str
    key: str
    profile: Dict[str, Any]
    profile_toml: str


class RcloneImported(_RcloneImportedRequired, total=False):
    """An rclone remote stored in the vault, with a profile that uses it."""

    notes: List[str]


class RcloneSkipped(TypedDict):
    """An rclone remote that was not imported, and why."""

    section: str
    service: Optional[str]
    reason: str


class RcloneImport(TypedDict):
    """What ``vault_import_rclone`` did (no secret in it)."""

    source: str
    imported: List[RcloneImported]
    not_imported: List[RcloneSkipped]


# -- document 3's cloud sync ---------------------------------------------------------------------------------------


class CloudManifestSummary(TypedDict):
    """A manifest in short: its snapshot, root, time, number of entries and checksum."""

    name: str
    root: str
    created_at: str
    entries: int
    checksum: str


class CloudManifest(TypedDict):
    """What ``cloud_manifest`` gives (document 3's ``GET /api/sync/manifest``)."""

    schema_version: int
    manifest: CloudManifestSummary
    include: List[str]
    exclude: List[str]
    checksum: str
    errors: List[FileError]


class CloudAction(TypedDict):
    """A planned upload, delete or skip."""

    path: str
    size: int
    reason: str


class CloudError(TypedDict):
    """An action of a cloud run that failed."""

    action: str
    path: str
    error: str
    kind: ErrorKind


class CloudSummary(TypedDict):
    """The summary of a cloud dry run or run: ``dry_run``, ``completed`` or ``partial``."""

    status: Literal["dry_run", "completed", "partial"]
    service: Literal["s3", "gdrive"]
    snapshot: str
    uploads: List[CloudAction]
    deletes: List[CloudAction]
    skipped: List[CloudAction]
    bytes: int
    unchanged: int


class CloudSyncResult(TypedDict):
    """What ``cloud_dry_run`` and ``cloud_run`` give (document 3's ``{manifest, plan, summary, remote_manifest}``)."""

    schema_version: int
    manifest: CloudManifestSummary
    plan: Plan
    summary: CloudSummary
    remote_manifest: Dict[str, Any]
    errors: List[CloudError]
    job_id: str
    manifest_committed: bool


class CloudServiceConfig(TypedDict, total=False):
    """A request's service settings (endpoints come only from the config)."""

    bucket: str
    prefix: str
    region: str
    parent_id: str
    manifest_parent_id: str


# -- events --------------------------------------------------------------------------------------------------------


class _EventBase(TypedDict):
    """What every event has: its number."""

    seq: int


class JobQueuedEvent(_EventBase):
    """A job was accepted and will start."""

    type: Literal["job_queued"]
    job_id: str
    at: str
    source: str
    destination: str


class JobStartedEvent(_EventBase):
    """A job started running."""

    type: Literal["job_started"]
    job_id: str
    at: str


class ProgressEvent(_EventBase):
    """Progress of a running job."""

    type: Literal["progress"]
    job_id: str
    progress: ProgressSnapshot


class LockTakenEvent(_EventBase):
    """A lock was taken."""

    type: Literal["lock_taken"]
    lock: LockInfo


class LockReleasedEvent(_EventBase):
    """A lock was released by its holder."""

    type: Literal["lock_released"]
    name: str
    job_id: Optional[str]


class LockBrokenEvent(_EventBase):
    """A stale lock was broken."""

    type: Literal["lock_broken"]
    lock: LockInfo
    reason: str


class _RecoveryUpdateEventRequired(_EventBase):
    """The keys every :class:`RecoveryUpdateEvent` has."""

    type: Literal["recovery_update"]
    operation_id: str
    function_name: str
    state: OperationState
    attempt: int
    max_attempts: int
    timestamp: str


class RecoveryUpdateEvent(_RecoveryUpdateEventRequired, total=False):
    """An operation changed state; ``error`` once it had one."""

    error: str


class RecoveryCompletedEvent(_EventBase):
    """An operation ended (``duration`` in seconds)."""

    type: Literal["recovery_completed"]
    operation_id: str
    success: bool
    final_state: OperationState
    total_attempts: int
    duration: float
    timestamp: str


class BreakerEvent(_EventBase):
    """A circuit breaker changed state."""

    type: Literal["breaker"]
    transition: BreakerTransition


class LogEvent(_EventBase):
    """An entry was written to a profile's log."""

    type: Literal["log"]
    profile: str
    log: LogEntry


class JobFinishedEvent(_EventBase):
    """A job ended."""

    type: Literal["job_finished"]
    job_id: str
    at: str
    status: JobStatus
    stats: Stats


#: An event of an engine (see ``Engine.subscribe``): tell them apart by ``type``.
Event = Union[
    JobQueuedEvent,
    JobStartedEvent,
    ProgressEvent,
    LockTakenEvent,
    LockReleasedEvent,
    LockBrokenEvent,
    RecoveryUpdateEvent,
    RecoveryCompletedEvent,
    BreakerEvent,
    LogEvent,
    JobFinishedEvent,
]

# -- options -------------------------------------------------------------------------------------------------------


class SftpOptions(TypedDict, total=False):
    """How to reach ``sftp://`` locations."""

    key_file: Optional[str]
    passphrase: Optional[str]
    agent: bool
    known_hosts: Optional[str]
    insecure_ignore_host_key: bool
    sessions: int
    timeout_secs: int
    credentials_key: Optional[str]


class S3Options(TypedDict, total=False):
    """How to reach ``s3://`` locations."""

    region: Optional[str]
    endpoint_url: Optional[str]
    path_style: Optional[bool]
    access_key_id: Optional[str]
    secret_access_key: Optional[str]
    session_token: Optional[str]
    multipart_threshold: int
    part_size: int
    part_concurrency: int
    stale_upload_hours: int
    credentials_key: Optional[str]


class GdriveOptions(TypedDict, total=False):
    """How to reach ``gdrive://`` locations."""

    credentials: Optional[str]
    manifest_parent_id: Optional[str]
    scopes: List[str]
    api_base: Optional[str]
    chunk_size: int
    credentials_key: Optional[str]


class RemoteOptions(TypedDict, total=False):
    """How to reach remote locations, by service (a sync option's ``remote``)."""

    sftp: SftpOptions
    s3: S3Options
    gdrive: GdriveOptions


class SyncOptions(TypedDict, total=False):
    """The options of a sync (every key optional: ``{}`` is a plain one-way copy)."""

    name: str
    compare: CompareMode
    modify_window_ms: int
    include: List[str]
    exclude: List[str]
    links: LinkMode
    min_age_secs: float
    delete: bool
    max_delete: Optional[int]
    delete_excluded: bool
    allow_empty_source: bool
    backup_dir: Optional[str]
    dry_run: bool
    transfers: int
    verify: bool
    bwlimit: Optional[int]
    dest_changed: DestChangedPolicy
    rescan_dest: bool
    trust_dest_manifest: bool
    chunk_size: int
    still_changing_retries: int
    progress_interval_ms: int
    list_identical: bool
    report_plan: bool
    scan_threads: int
    max_attempts: int
    retry: Dict[RecoveryCategory, RetryPolicy]
    commit_manifest: bool
    remote: RemoteOptions


class ManifestOptions(TypedDict, total=False):
    """The options of ``build_manifest``."""

    name: Optional[str]
    include: List[str]
    exclude: List[str]
    links: LinkMode
    hash: Optional[bool]
    state_dir: Optional[str]
    threads: int


class EngineConfig(TypedDict, total=False):
    """How an engine is set up (``config_file`` or ``config``, not both; the rest overrides ``[settings]``)."""

    config_file: Optional[str]
    config: Optional[Dict[str, Any]]
    state_dir: Optional[str]
    no_store: bool
    worker_threads: int
    log_dir: Optional[str]
    log_max_size: Optional[int]


class EventFilter(TypedDict, total=False):
    """Which events a subscription takes: those matching every key given (``types`` empty: all)."""

    job_id: Optional[str]
    profile: Optional[str]
    operation_id: Optional[str]
    types: List[EventType]


class UsageQuery(TypedDict, total=False):
    """What ``storage_usage`` measures: a models folder by type, a tree by top-level folder."""

    models_root: Optional[str]
    root: Optional[str]
