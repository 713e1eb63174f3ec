"""The TypedDicts of syncwright.types against real documents: every call of the engine is made for real and its
result checked key by key (no key missing, none extra, every value of its declared type)."""

import json
import os
import sys
import time
import typing
from pathlib import Path
from typing import Any, Dict, List, Set, Tuple, Union

import pytest

import syncwright
from syncwright import types as T

# Safety nets only: a correct run never gets near them; they turn a hang into a failure.
LONG = 60.0


# -- the checker ---------------------------------------------------------------------------------------------------


class Mismatch(AssertionError):
    """A value that does not have its declared type."""


#: The TypedDicts checked so far, and the optional keys seen present (TypedDict name, key).
CHECKED: Set[str] = set()
OPTIONAL_SEEN: Set[Tuple[str, str]] = set()


def is_typeddict(tp: Any) -> bool:
    # typing.is_typeddict is 3.10+.
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__total__")


def discriminator(tp: Any) -> Tuple[Any, ...]:
    """The values of a TypedDict's ``type`` Literal key, or () when it has none."""
    if not is_typeddict(tp):
        return ()
    hint = typing.get_type_hints(tp).get("type")
    if typing.get_origin(hint) is typing.Literal:
        return typing.get_args(hint)
    return ()


def check(value: Any, tp: Any, path: str = "$") -> None:
    """Raises :class:`Mismatch` naming the first place where ``value`` is not of type ``tp``."""
    if tp is Any:
        return
    if tp is None or tp is type(None):
        if value is not None:
            raise Mismatch(f"{path}: expected None, got {value!r}")
        return
    if is_typeddict(tp):
        check_typeddict(value, tp, path)
        return
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Union:
        check_union(value, args, path)
    elif origin is typing.Literal:
        if not any(type(value) is type(a) and value == a for a in args):
            raise Mismatch(f"{path}: {value!r} is not one of {args}")
    elif origin is list:
        if not isinstance(value, list):
            raise Mismatch(f"{path}: expected a list, got {value!r}")
        for i, item in enumerate(value):
            check(item, args[0], f"{path}[{i}]")
    elif origin is dict:
        if not isinstance(value, dict):
            raise Mismatch(f"{path}: expected a dict, got {value!r}")
        for k, v in value.items():
            check(k, args[0], f"{path} key {k!r}")
            check(v, args[1], f"{path}[{k!r}]")
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise Mismatch(f"{path}: expected a number, got {value!r}")
    elif tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Mismatch(f"{path}: expected an int, got {value!r}")
    elif tp in (str, bool):
        if type(value) is not tp:
            raise Mismatch(f"{path}: expected {tp.__name__}, got {value!r}")
    else:
        raise TypeError(f"{path}: the checker does not know the type {tp!r}")


def check_typeddict(value: Any, tp: Any, path: str) -> None:
    if not isinstance(value, dict):
        raise Mismatch(f"{path}: expected a {tp.__name__} dict, got {value!r}")
    hints = typing.get_type_hints(tp)
    required = set(tp.__required_keys__)
    optional = set(tp.__optional_keys__)
    assert required | optional == set(hints), tp
    missing = sorted(required - set(value))
    if missing:
        raise Mismatch(f"{path}: {tp.__name__} lacks {missing} (keys: {sorted(value)})")
    extra = sorted(set(value) - set(hints))
    if extra:
        raise Mismatch(f"{path}: {tp.__name__} has undeclared keys {extra}")
    for k, v in value.items():
        check(v, hints[k], f"{path}.{k}")
    CHECKED.add(tp.__name__)
    OPTIONAL_SEEN.update((tp.__name__, k) for k in optional & set(value))


def check_union(value: Any, args: Tuple[Any, ...], path: str) -> None:
    # Alternatives told apart by their `type` Literal: only those whose Literal has this value's type.
    alternatives = list(args)
    if isinstance(value, dict) and "type" in value:
        by_type = [a for a in args if value["type"] in discriminator(a)]
        if by_type:
            alternatives = by_type
    errors = []
    for alt in alternatives:
        try:
            check(value, alt, path)
            return
        except Mismatch as e:
            errors.append(str(e))
    raise Mismatch(f"{path}: matches no alternative:\n  " + "\n  ".join(errors))


def test_the_checker_finds_mismatches():
    good: T.Pagination = {"page": 1, "per_page": 50, "total": 3, "pages": 1}
    check(good, T.Pagination)
    for bad in (
        {"page": 1, "per_page": 50, "total": 3},  # a key missing
        {**good, "more": 1},  # a key extra
        {**good, "page": "1"},  # a wrong type
        {**good, "page": True},  # a bool is no int
    ):
        with pytest.raises(Mismatch):
            check(bad, T.Pagination)
    check({"seq": 1, "type": "job_started", "job_id": "j", "at": "t"}, T.Event)
    with pytest.raises(Mismatch, match="JobStartedEvent lacks"):
        check({"seq": 1, "type": "job_started", "job_id": "j"}, T.Event)
    with pytest.raises(Mismatch):
        check({"seq": 1, "type": "no_such_event"}, T.Event)
    check(1, float)
    check(None, typing.Optional[int])
    with pytest.raises(Mismatch):
        check(1.5, int)
    check({"kind": "conflict", "error": "running"}, T.ProfileResult)


def test_the_types_module_names_and_event_types():
    for name in T.__all__:
        assert hasattr(T, name), name
    for name in (
        "BreakerSettings BreakerStatus Config Event JobSnapshot LockSelfTest LogEntry LogLevel LogPage "
        "ManifestResult Operation Plan ProfileInfo ProfileLocks ProfileStatus ProgressSnapshot RecoveryMetrics "
        "RunPage ScenarioInfo SelfTestReport StorageUsage SyncReport UnlockReport"
    ).split():
        assert name in T.__all__, name
    for name in T.__all__:
        tp = getattr(T, name)
        if is_typeddict(tp):
            assert tp.__doc__ and "\n" not in tp.__doc__.strip(), f"{name} needs a one-line docstring"
            typing.get_type_hints(tp)  # every annotation resolves
    # One TypedDict per event type, each with seq and its own type.
    event_types = [discriminator(tp) for tp in typing.get_args(T.Event)]
    assert all(len(t) == 1 for t in event_types)
    assert sorted(t[0] for t in event_types) == sorted(typing.get_args(T.EventType))
    for tp in typing.get_args(T.Event):
        assert typing.get_type_hints(tp)["seq"] is int
        assert {"seq", "type"} <= set(tp.__required_keys__)


# -- the documents -------------------------------------------------------------------------------------------------


def make_tree(root: Path) -> None:
    files = {
        "a.txt": b"hello\n",
        "sub/b.bin": bytes(range(256)) * 40,
        "sub/deeper/c.dat": os.urandom(70_000),
        "empty": b"",
    }
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    (root / "hollow").mkdir()
    os.symlink("a.txt", root / "link")


def stale_lock(coord: Path, profile: str) -> None:
    """A profile lock whose holder's lease ran out long ago."""
    coord.mkdir(parents=True, exist_ok=True)
    name = f"profile-{profile}"
    info = {
        "name": name,
        "profile": profile,
        "job_id": "00000000-0000-4000-8000-000000000000",
        "instance_id": "",
        "pid": 1,
        "host": "elsewhere.example",
        "started_at": "2000-01-01T00:00:00Z",
        "lease_until": "2000-01-01T00:01:00Z",
        "token": "stale-token",
    }
    (coord / f"{name}.lock").write_text(json.dumps(info))


def finished(job: syncwright.Job) -> T.SyncReport:
    report = job.wait(LONG)
    assert report is not None, f"job {job.id} did not finish"
    return report


def test_every_document_matches_its_typeddict(tmp_path):
    CHECKED.clear()
    OPTIONAL_SEEN.clear()
    src, dst, big, slow_dst, coord = (tmp_path / n for n in ("src", "dst", "big", "slow_dst", "coord"))
    make_tree(src)
    os.mkfifo(src / "fifo")  # a special file: a warning
    big.mkdir()
    (big / "big.bin").write_bytes(os.urandom(24 << 20))
    stale_lock(coord, "main")  # broken by main's run
    stale_lock(coord, "cmd")  # removed by an unlock
    config = {
        "settings": {
            "coordination_dir": str(coord),
            "lock_lease": "30s",
            # The breaker of the S3 target below opens at its first failure.
            "breaker": {"cooldown_secs": 300, "targets": {"s3://typecheck": {"failure_threshold": 1}}},
        },
        "profiles": {
            "main": {"source": str(src), "destination": str(dst), "interval": "15m", "exclude": ["*.tmp"]},
            # 2 MiB/s: its 24 MiB take 12 s, so it is seen running (and holding its locks) until it is unlocked;
            # a cancel waits for the chunk (1 MiB) under way, half a second.
            "slow": {"source": str(big), "destination": str(slow_dst), "bwlimit": "2M", "max_attempts": 1},
            "cmd": {"command": [sys.executable, "-c", "print('hello from cmd')"], "timeout": 60},
        },
    }
    with syncwright.Engine(config=config) as engine:
        check(engine.config(), T.Config)
        profiles = engine.profiles()
        check(profiles, List[T.ProfileInfo])
        assert {p["kind"] for p in profiles} == {"sync", "command"}

        # Stale locks, before anything ran.
        status = engine.profile_status("main")
        check(status, T.ProfileStatus)
        assert status["lock"] is not None and status["lock"]["state"] == "stale" and status["last_run"] is None
        check(engine.profiles_status(), List[T.ProfileStatus])
        check(engine.profile_locks(), List[T.ProfileLocks])
        unlocked = engine.unlock_profile("cmd")
        check(unlocked, T.UnlockReport)
        assert [r["reason"] for r in unlocked["removed"]] == ["stale"]

        # A profile run (it breaks main's stale lock).
        job = engine.run_profile("main")
        report = finished(job)
        check(report, T.SyncReport)
        assert report["status"] == "completed", report
        check(job.progress(), T.ProgressSnapshot)
        check(engine.job(job.id).snapshot(True), T.JobSnapshot)
        check(job.snapshot(False), T.JobSnapshot)
        status = engine.profile_status("main")
        check(status, T.ProfileStatus)
        assert status["last_run"] is not None and status["last_run"]["stats"] is not None

        # Plans, a dry run, a failed run, a manifest.
        check(engine.plan(src, dst, list_identical=True), T.Plan)
        check(engine.plan(src, tmp_path / "fresh"), T.Plan)
        dry = engine.sync(src, tmp_path / "dry", dry_run=True)
        check(dry, T.SyncReport)
        assert "plan" in dry
        failed = engine.sync(tmp_path / "missing", tmp_path / "nowhere")
        check(failed, T.SyncReport)
        assert failed["status"] == "failed" and "fatal" in failed
        manifest = syncwright.build_manifest(src)
        check(manifest, T.ManifestResult)
        assert {e["kind"] for e in manifest["manifest"]["entries"]} == {"file", "symlink", "dir"}

        # A run holding its locks: seen while it transfers.
        with engine.subscribe(filter={"profile": "slow", "types": ["progress"]}) as progress:
            slow = engine.run_profile("slow")
            deadline = time.monotonic() + LONG
            while True:
                assert time.monotonic() < deadline, "the slow run never transferred"
                ev = progress.next(timeout=max(0.0, deadline - time.monotonic()))
                assert ev is not None
                if ev["type"] == "progress" and ev["progress"]["bytes_done"] > 0:
                    break
        running = engine.profile_status("slow")
        check(running, T.ProfileStatus)
        assert running["running"] and running["job"] is not None and running["job"]["this_engine"]
        assert running["lock"] is not None and running["lock"]["state"] == "held"
        assert running["destination_lock"] is not None and "destination" in running["destination_lock"]["info"]
        check(engine.profiles_status(), List[T.ProfileStatus])
        check(engine.profile_locks(), List[T.ProfileLocks])
        check(engine.active_jobs(), List[T.JobSnapshot])
        check(slow.progress(), T.ProgressSnapshot)
        check(slow.snapshot(True), T.JobSnapshot)

        # A run-all while slow runs: slow cannot start, the others run.
        everything = finished(engine.run_all())
        check(everything, T.SyncReport)
        check(everything, T.RunAllReport)
        results = everything["results"]
        assert "kind" in results["slow"] and results["cmd"]["type"] == "command", results
        assert "output" in results["cmd"]

        # A plain sync into the destination slow writes: refused at once, the holder in the fatal error's details.
        refused = engine.sync(big, slow_dst)
        check(refused, T.SyncReport)
        assert refused["status"] == "failed" and refused["fatal"]["kind"] == "conflict", refused

        # Unlocking the running profile cancels its job.
        unlocked = engine.unlock_profile("slow")
        check(unlocked, T.UnlockReport)
        assert unlocked["cancelled_jobs"] == [slow.id]
        assert {r["reason"] for r in unlocked["removed"]} == {"cancelled"}
        cancelled = finished(slow)
        check(cancelled, T.SyncReport)
        assert cancelled["status"] == "cancelled"
        check(engine.unlock_all(), T.UnlockReport)
        check(engine.lock_self_test(), T.LockSelfTest)

        # Jobs, history, logs.
        check(engine.jobs(), List[T.JobSnapshot])
        check(engine.active_jobs(), List[T.JobSnapshot])
        check(engine.recent_jobs(), List[T.JobSnapshot])
        for name in ("main", "slow", "cmd"):
            history = engine.run_history(name)
            check(history, T.RunPage)
            assert history["runs"], name
            check(engine.profile_log_tail(name), List[T.LogEntry])
            check(engine.profile_log_page(name), T.LogPage)
        assert engine.profile_log_tail("main")

        # Storage.
        usage = engine.storage_usage(root=tmp_path)
        check(usage, T.StorageUsage)
        assert usage["disk"] is not None and usage["by_folder"] and usage["by_project"]
        check(engine.storage_usage(models_root=src), T.StorageUsage)
        check(engine.storage_usage(), T.StorageUsage)

        # Recovery.
        operations = engine.operations()
        check(operations, List[T.Operation])
        assert operations
        check(engine.operation(job.id), T.Operation)
        check(engine.operation(slow.id), T.Operation)
        check(engine.interrupted_operations(), List[T.Operation])
        check(engine.recovery_metrics(), T.RecoveryMetrics)
        scenarios = engine.recovery_scenarios()
        check(scenarios, List[T.ScenarioInfo])
        check(engine.breaker_settings(), T.BreakerSettings)
        # A remote target that refuses connections: its breaker opens.
        no_retry = {"backoff": {"type": "fixed"}, "max_attempts": 1, "initial_delay": 0, "max_delay": 0, "jitter": 0}
        unreachable = engine.sync(
            src,
            "s3://typecheck/x",
            max_attempts=1,
            retry={c: no_retry for c in ("network_connection", "network_timeout", "service_unavailable")},
            remote={"s3": {"endpoint_url": "http://127.0.0.1:1", "access_key_id": "k", "secret_access_key": "s"}},
        )
        check(unreachable, T.SyncReport)
        assert unreachable["status"] == "failed"
        breakers = engine.breakers()
        check(breakers, List[T.BreakerStatus])
        assert [b["state"] for b in breakers] == ["open"], breakers

        # Every event so far.
        types = set()
        with engine.subscribe(since=0) as sub:
            while True:
                ev = sub.next(timeout=0.5)
                if ev is None:
                    break
                check(ev, T.Event)
                types.add(ev["type"])
        expected = {
            "job_queued", "job_started", "progress", "lock_taken", "lock_released", "lock_broken",
            "recovery_update", "recovery_completed", "log", "job_finished", "breaker",
        }  # fmt: skip
        assert expected <= types, expected - types

    # What was checked: every document, and the optional keys this scenario produces.
    for name in (
        "Config Settings Profile RemoteConfig SftpConfig S3Config GdriveConfig BreakerSettings ProfileInfo "
        "ProfileStatus RunningJob LastRun LockState LockInfo ProfileLocks UnlockReport RemovedLock LockSelfTest "
        "SyncReport RunAllReport ProfileError Stats FileError Warning Plan PlanAction PlanTotals ManifestEntry "
        "Manifest ManifestResult JobSnapshot ProgressSnapshot RunPage RunRecord Pagination LogEntry LogPage "
        "StorageUsage SizeEntry DiskUsage Operation RecoveryMetrics RetryPolicy BreakerConfig ScenarioInfo "
        "JobQueuedEvent JobStartedEvent ProgressEvent LockTakenEvent LockReleasedEvent LockBrokenEvent "
        "RecoveryUpdateEvent RecoveryCompletedEvent LogEvent JobFinishedEvent BreakerEvent BreakerStatus "
        "BreakerTransition"
    ).split():
        assert name in CHECKED, f"no {name} was checked"
    for optional in (
        ("SyncReport", "plan"),
        ("SyncReport", "fatal"),
        ("SyncReport", "output"),
        ("SyncReport", "results"),
        ("JobSnapshot", "report"),
        ("LockState", "reason"),
        ("LockInfo", "destination"),
        ("ManifestEntry", "target"),
        ("ManifestEntry", "hashes"),
        ("PlanAction", "entry"),
        ("PlanAction", "dest"),
        ("ProfileError", "details"),
        ("FileError", "details"),
        ("BreakerSettings", "targets"),
        ("RecoveryUpdateEvent", "error"),
        ("Operation", "error"),
    ):
        assert optional in OPTIONAL_SEEN, f"{optional} was never seen"


def test_recovery_self_test_report():
    with syncwright.Engine() as engine:
        scenarios = engine.recovery_scenarios()
        check(scenarios, List[T.ScenarioInfo])
        report = engine.recovery_self_test([scenarios[0]["id"]])
        check(report, T.SelfTestReport)
        assert [s["name"] for s in report["scenarios"]] == [scenarios[0]["id"]]


def test_option_dicts_are_accepted_by_core(tmp_path):
    src = tmp_path / "src"
    make_tree(src)
    options: T.SyncOptions = {
        "compare": "checksum",
        "transfers": 2,
        "list_identical": True,
        "retry": {
            "rate_limited": {
                "backoff": {"type": "exponential", "factor": 2},
                "max_attempts": 2,
                "initial_delay": 0.1,
                "max_delay": 1,
                "jitter": 0,
            }
        },
        "remote": {"sftp": {"sessions": 2}},
    }
    engine_config: T.EngineConfig = {"no_store": True, "worker_threads": 2}
    with syncwright.Engine(no_store=engine_config["no_store"], worker_threads=engine_config["worker_threads"]) as e:
        check(e.plan(src, tmp_path / "dst", **options), T.Plan)
        query: T.UsageQuery = {"root": str(tmp_path)}
        check(e.storage_usage(**query), T.StorageUsage)
        event_filter: T.EventFilter = {"types": ["job_finished"], "profile": None}
        with e.subscribe(since=0, filter=dict(event_filter)) as sub:
            check(e.sync(src, tmp_path / "dst", **options), T.SyncReport)
            ev = sub.next(timeout=LONG)
            assert ev is not None and ev["type"] == "job_finished"
            check(ev, T.Event)
    manifest_options: T.ManifestOptions = {"hash": False, "exclude": ["*.dat"]}
    check(syncwright.build_manifest(src, manifest_options), T.ManifestResult)


def test_a_checked_type_is_exact_about_absent_and_null(tmp_path):
    """Keys that core leaves out when unset are absent, never null: the TypedDicts say which."""
    src = tmp_path / "src"
    make_tree(src)
    with syncwright.Engine() as engine:
        report = engine.sync(src, tmp_path / "dst")
        for key in ("plan", "fatal", "output", "total", "successful", "failed", "results"):
            assert key not in report
            assert key in T.SyncReport.__optional_keys__
        snapshot = engine.jobs()[0]
        assert "report" not in snapshot and snapshot["finished_at"] is not None
        assert "finished_at" in T.JobSnapshot.__required_keys__
