"""Tests of the engine front door: sync, plan, jobs, progress, cancel, asyncio, events, the GIL, the example."""

import asyncio
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import syncwright

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "python" / "sync_report.py"

# Safety nets only: a correct run never gets near them; they turn a hang into a failure.
LONG = 120.0


@pytest.fixture
def engine(tmp_path):
    with syncwright.Engine(tmp_path / "state") as e:
        yield e


def make_tree(root: Path) -> dict:
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
    return files


def make_big(root: Path, files: int = 3, size: int = 1 << 20) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        (root / f"big{i}.bin").write_bytes(os.urandom(size))


def tree_bytes(root: Path) -> dict:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and ".syncwright" not in p.relative_to(root).parts
    }


def temporaries(root: Path) -> list:
    return [p for p in root.rglob("*") if ".swtmp-" in p.name]


def test_sync_copies_a_tree_and_reports(engine, tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    files = make_tree(src)
    report = engine.sync(src, dst)
    assert tree_bytes(dst) == files
    assert report["status"] == "completed"
    assert report["dry_run"] is False
    assert report["errors"] == [] and "fatal" not in report
    assert report["stats"]["created"] == len(files)
    assert report["stats"]["bytes_transferred"] == sum(len(d) for d in files.values())
    assert {"schema_version", "run_id", "source", "destination", "started_at", "finished_at", "duration_ms"} <= set(
        report
    )

    again = engine.sync(str(src), str(dst))
    assert again["status"] == "completed"
    assert again["stats"]["created"] == again["stats"]["updated"] == 0
    assert again["stats"]["bytes_transferred"] == 0
    assert again["stats"]["unchanged"] == len(files)


def test_report_is_the_canonical_json(engine, tmp_path):
    src = tmp_path / "src"
    make_tree(src)
    job = engine.start(src, tmp_path / "dst")
    report = job.wait()
    text = job.report_json()
    assert text is not None and "\n" not in text
    assert json.loads(text) == report == job.report()


def test_plan_returns_the_combined_actions(engine, tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "d").mkdir(parents=True)
    (dst / "d").mkdir(parents=True)
    (src / "same.txt").write_text("same")
    (dst / "same.txt").write_text("same")
    os.utime(dst / "same.txt", ns=(os.stat(src / "same.txt").st_mtime_ns,) * 2)
    (src / "new.txt").write_text("new")
    (src / "d" / "changed.txt").write_text("longer content")
    (dst / "d" / "changed.txt").write_text("short")
    (dst / "extra.txt").write_text("only at destination")

    plan = engine.plan(src, dst, list_identical=True)
    by_path = {a["path"]: a for a in plan["actions"]}
    assert by_path["new.txt"]["op"] == "copy" and by_path["new.txt"]["reason"] == "new"
    assert by_path["d/changed.txt"]["op"] == "copy" and by_path["d/changed.txt"]["reason"] == "size_changed"
    assert by_path["same.txt"]["reason"] == "identical"
    assert by_path["extra.txt"]["reason"] == "missing_at_source" and by_path["extra.txt"]["op"] == "keep"
    assert plan["totals"]["copy_files"] == 2
    assert plan["totals"]["extra_at_dest"] == 1
    assert [a["path"] for a in plan["actions"]] == sorted(by_path)
    # A plan writes nothing.
    assert (dst / "d" / "changed.txt").read_text() == "short"
    assert not (dst / "new.txt").exists()

    mirror = engine.plan(src, dst, delete=True)
    assert {a["path"]: a["op"] for a in mirror["actions"]}["extra.txt"] == "delete"


def test_dry_run_report_has_the_plan(engine, tmp_path):
    src = tmp_path / "src"
    make_tree(src)
    report = engine.sync(src, tmp_path / "dst", dry_run=True)
    assert report["dry_run"] is True and report["status"] == "completed"
    assert report["plan"]["totals"]["copy_files"] == 4
    assert not (tmp_path / "dst").exists()


def test_progress_callback_ends_with_done(engine, tmp_path):
    src = tmp_path / "src"
    make_tree(src)
    seen = []
    threads = set()
    report = engine.sync(
        src,
        tmp_path / "dst",
        progress_interval_ms=10,
        on_progress=lambda p: (seen.append(p), threads.add(threading.get_ident())),
    )
    assert report["status"] == "completed"
    assert seen, "the callback was never called"
    assert seen[-1]["stage"] == "done" and seen[-1]["percent"] == 100
    assert {"files_done", "files_total", "bytes_done", "bytes_total", "rate_bps", "elapsed_ms"} <= set(seen[-1])
    assert threading.get_ident() not in threads  # called from a library thread


def test_progress_callback_exception_is_unraisable(engine, tmp_path, monkeypatch):
    src = tmp_path / "src"
    make_tree(src)
    caught = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: caught.append(u))

    def bad(_snapshot):
        raise RuntimeError("boom in callback")

    report = engine.sync(src, tmp_path / "dst", on_progress=bad)
    assert report["status"] == "completed"
    assert caught, "the exception was not reported"
    assert isinstance(caught[0].exc_value, RuntimeError) and str(caught[0].exc_value) == "boom in callback"
    assert caught[0].object is bad


def test_await_job_gives_the_same_report_as_wait(engine, tmp_path):
    src = tmp_path / "src"
    make_tree(src)

    async def main():
        job = engine.start(src, tmp_path / "dst")
        report = await job
        return job, report

    job, report = asyncio.run(main())
    assert report["status"] == "completed"
    assert report == job.wait() == job.report()
    # Awaiting a finished job returns at once, and wait_async is the coroutine form.
    assert asyncio.run(job.wait_async()) == report


def test_sync_async_and_concurrent_awaits(engine, tmp_path):
    src = tmp_path / "src"
    make_tree(src)

    async def main():
        a = asyncio.create_task(engine.sync_async(src, tmp_path / "a"))
        b = asyncio.create_task(engine.sync_async(src, tmp_path / "b"))
        return await asyncio.gather(a, b)

    ra, rb = asyncio.run(main())
    assert ra["status"] == rb["status"] == "completed"
    assert tree_bytes(tmp_path / "a") == tree_bytes(tmp_path / "b") == tree_bytes(src)


def slow_start(engine, src, dst, on_progress=None):
    """A job that takes many seconds unless cancelled: 3 MiB at 64 KiB/s in 16 KiB chunks."""
    return engine.start(src, dst, bwlimit=65536, chunk_size=16384, progress_interval_ms=20, on_progress=on_progress)


def test_cancel_a_slow_job(engine, tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    make_big(src)
    moving = threading.Event()
    snapshots = []

    def on_progress(p):
        snapshots.append(p)
        if p["bytes_done"] > 0:
            moving.set()

    job = slow_start(engine, src, dst, on_progress)
    assert job.wait(timeout=0) is None  # still running
    assert job.status == "running"
    assert moving.wait(LONG), "no bytes moved"
    job.cancel()
    report = job.wait(LONG)
    assert report is not None
    assert job.status == "cancelled" == report["status"]
    assert temporaries(dst) == []
    assert snapshots[-1]["stage"] == "done"
    assert job.progress()["stage"] == "done"


def test_async_cancel_of_sync_async_leaves_the_job_running(engine, tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    make_big(src)
    sub = engine.subscribe()

    async def main():
        loop = asyncio.get_running_loop()
        moving = asyncio.Event()

        def on_progress(p):
            if p["bytes_done"] > 0:
                loop.call_soon_threadsafe(moving.set)

        slow = dict(bwlimit=65536, chunk_size=16384, progress_interval_ms=20)
        task = asyncio.create_task(engine.sync_async(src, dst, on_progress=on_progress, **slow))
        await asyncio.wait_for(moving.wait(), LONG)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The sync goes on: only Job.cancel() stops it.
        [running] = engine.active_jobs()
        assert running["status"] == "running"
        job = engine.job(running["job_id"])
        job.cancel()
        return await job

    report = asyncio.run(main())
    assert report["status"] == "cancelled"
    finished = [e for e in iter(lambda: sub.next(timeout=0), None) if e["type"] == "job_finished"]
    assert [e["status"] for e in finished] == ["cancelled"]
    assert temporaries(dst) == []


def test_wait_timeout_zero_on_a_running_job(engine, tmp_path):
    src = tmp_path / "src"
    make_big(src, files=1)
    job = slow_start(engine, src, tmp_path / "dst")
    assert job.wait(0) is None
    assert job.wait(timeout=0.0) is None
    assert job.report() is None and job.report_json() is None
    assert job.progress()["percent"] < 100
    job.cancel()
    assert job.wait(LONG)["status"] == "cancelled"


def test_unknown_option_raises_invalid_input(engine, tmp_path):
    src = tmp_path / "src"
    make_tree(src)
    for call in (engine.start, engine.sync, engine.plan):
        with pytest.raises(syncwright.InvalidInputError) as info:
            call(src, tmp_path / "dst", no_such_option=1)
        assert info.value.kind == "invalid_input"
        assert "no_such_option" in info.value.message
    with pytest.raises(syncwright.InvalidInputError):
        engine.start(src, tmp_path / "dst", transfers=0)  # a bad value: core's range check
    with pytest.raises(syncwright.InvalidInputError):
        engine.start(src, tmp_path / "dst", compare="sometimes")
    with pytest.raises(syncwright.InvalidInputError):
        engine.start(src, "ftp://host/dir")  # unsupported location
    with pytest.raises(TypeError):
        engine.start(src, tmp_path / "dst", on_progress=42)
    assert not (tmp_path / "dst").exists()


def test_missing_source_fails_with_a_report(engine, tmp_path):
    job = engine.start(tmp_path / "missing", tmp_path / "dst")
    report = job.wait(LONG)
    assert report["status"] == "failed" and job.status == "failed"
    assert report["fatal"]["kind"] == "not_found"
    with pytest.raises(syncwright.NotFoundError):
        engine.plan(tmp_path / "missing", tmp_path / "dst")


def test_a_held_destination_fails_the_second_run_with_details_naming_the_holder(engine, tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    make_big(src, files=1)
    moving = threading.Event()
    first = slow_start(engine, src, dst, lambda p: p["bytes_done"] > 0 and moving.set())
    assert moving.wait(LONG), "no bytes moved"
    report = engine.sync(src, dst)
    assert report["status"] == "failed"
    fatal = report["fatal"]
    assert fatal["kind"] == "conflict"
    assert fatal["details"]["job_id"] == first.id
    assert fatal["details"]["pid"] == os.getpid()
    first.cancel()
    assert first.wait(LONG)["status"] == "cancelled"


def closed_port() -> int:
    """A loopback port nothing listens on (connections to it are refused)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_open_circuit_breaker_raises_with_its_target_and_retry_after(engine, tmp_path):
    port = closed_port()
    src = f"sftp://tester@127.0.0.1:{port}/data"
    # The default breaker opens after 5 failures of the link in a row.
    for _ in range(5):
        with pytest.raises(syncwright.NetworkError) as info:
            engine.plan(src, tmp_path / "dst", max_attempts=1)
        assert info.value.details is None
    with pytest.raises(syncwright.UnavailableError) as info:
        engine.plan(src, tmp_path / "dst", max_attempts=1)
    d = info.value.details
    assert d is not None, info.value
    assert d["target"] == f"sftp://tester@127.0.0.1:{port}" and d["state"] == "open", d
    assert 0 < d["retry_after_secs"] <= 30, d
    assert d["consecutive_failures"] == 5
    with pytest.raises(syncwright.InvalidInputError) as info:
        engine.plan(src, tmp_path / "dst", breaker={"failure_threshold": 1})
    assert "[settings.breaker]" in info.value.message


LIFECYCLE = {"job_queued", "job_started", "progress", "job_finished"}


def test_subscription_sees_the_job_lifecycle(engine, tmp_path):
    src = tmp_path / "src"
    make_tree(src)
    with engine.subscribe() as sub:
        job = engine.start(src, tmp_path / "dst", progress_interval_ms=10)
        events = []
        for event in sub:
            if event["type"] not in LIFECYCLE:
                continue  # recovery and lock events of the same run
            events.append(event)
            if event["type"] == "job_finished":
                break
    types = [e["type"] for e in events]
    assert types[:2] == ["job_queued", "job_started"]
    assert types[-1] == "job_finished"
    assert set(types[2:-1]) <= {"progress"} and "progress" in types
    assert {e["job_id"] for e in events} == {job.id}
    assert events[0]["source"].endswith("src") and events[0]["destination"].endswith("dst")
    assert events[-1]["status"] == "completed"
    assert events[-1]["stats"] == job.wait(LONG)["stats"]  # job_finished comes just before the report is set
    assert sub.closed and sub.lost == 0


def test_subscribe_since_replays_what_was_missed_and_filters(engine, tmp_path):
    src = tmp_path / "src"
    make_tree(src)
    job = engine.start(src, tmp_path / "dst")
    job.wait(LONG)
    # Everything kept, numbered from 1; then the live ones follow with no gap.
    with engine.subscribe(since=0) as sub:
        kept = list(iter(lambda: sub.next(timeout=0), None))
        assert [e["seq"] for e in kept] == list(range(1, len(kept) + 1))
        assert kept[0]["type"] == "job_queued" and kept[-1]["type"] == "job_finished"
        job2 = engine.start(src, tmp_path / "dst2")
        first_live = sub.next(timeout=LONG)
        assert first_live is not None and first_live["seq"] == len(kept) + 1
        job2.wait(LONG)
    latest = len(kept)
    # From the middle, filtered by job and type.
    finished = engine.subscribe(since=1, filter={"job_id": job.id, "types": ["job_finished", "job_started"]})
    got = list(iter(lambda: finished.next(timeout=0), None))
    assert [e["type"] for e in got] == ["job_started", "job_finished"]
    assert all(e["job_id"] == job.id and e["seq"] <= latest for e in got)
    finished.close()
    # A since beyond the latest, a bad filter: InvalidInputError.
    with pytest.raises(syncwright.InvalidInputError, match="beyond the latest"):
        engine.subscribe(since=10**9)
    with pytest.raises(syncwright.InvalidInputError):
        engine.subscribe(since=-1)
    with pytest.raises(syncwright.InvalidInputError):
        engine.subscribe(filter={"types": ["job_done"]})
    with pytest.raises(syncwright.InvalidInputError):
        engine.subscribe(filter={"job": "x"})


def test_async_subscription(engine, tmp_path):
    src = tmp_path / "src"
    make_tree(src)
    sub = engine.subscribe()

    async def main():
        job = engine.start(src, tmp_path / "dst")
        types = []
        async for event in sub:
            if event["type"] not in LIFECYCLE:
                continue
            types.append(event["type"])
            if event["type"] == "job_finished":
                break
        return job, types

    job, types = asyncio.run(main())
    assert types[:2] == ["job_queued", "job_started"] and types[-1] == "job_finished"

    # A waiter cancelled before its event came does not lose the event.
    async def cancelled_then_next():
        waiter = asyncio.ensure_future(sub.__anext__())
        await asyncio.sleep(0)  # one turn of the loop: the waiter task runs up to its await
        assert sub._inflight is not None  # it asked for the next event
        waiter.cancel()
        engine.start(src, tmp_path / "dst2")
        return await asyncio.wait_for(sub.__anext__(), LONG)

    assert asyncio.run(cancelled_then_next())["type"] == "job_queued"
    sub.close()


def test_next_timeout_and_close_end_iteration(engine):
    sub = engine.subscribe()
    assert sub.next(timeout=0) is None
    assert sub.next(timeout=0.01) is None
    sub.close()
    assert list(sub) == []

    async def drain():
        return [e async for e in sub]

    assert asyncio.run(drain()) == []


def test_close_cancels_jobs_and_ends_subscriptions(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    make_big(src)
    engine = syncwright.Engine(tmp_path / "state")
    sub = engine.subscribe()
    moving = threading.Event()
    job = slow_start(engine, src, dst, lambda p: p["bytes_done"] > 0 and moving.set())
    assert moving.wait(LONG)
    engine.close()
    assert engine.closed
    assert job.status == "cancelled"
    assert temporaries(dst) == []
    types = [e["type"] for e in sub]  # ends: the engine closed the subscription
    assert types[-1] == "job_finished"
    engine.close()  # again: nothing happens
    for call in (lambda: engine.sync(src, dst), lambda: engine.plan(src, dst), engine.subscribe):
        with pytest.raises(syncwright.InvalidInputError):
            call()


def test_close_from_a_progress_callback(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    make_big(src)
    engine = syncwright.Engine(tmp_path / "state")

    def on_progress(p):
        if p["bytes_done"] > 0:
            engine.close()  # returns at once here; the engine stops in the background

    job = slow_start(engine, src, dst, on_progress)
    assert job.wait(LONG)["status"] == "cancelled"
    assert engine.closed
    assert temporaries(dst) == []


def test_job_outlives_its_engine_object(tmp_path):
    src = tmp_path / "src"
    make_tree(src)
    job = syncwright.Engine(tmp_path / "state").start(src, tmp_path / "dst")
    assert job.wait(LONG)["status"] == "completed"


def test_engine_config(tmp_path):
    with syncwright.Engine(no_store=True, worker_threads=1) as e:
        src = tmp_path / "src"
        make_tree(src)
        assert e.sync(src, tmp_path / "dst")["status"] == "completed"
        manifest = e.build_manifest(src, exclude=["*.dat"])
        files = [x["path"] for x in manifest["manifest"]["entries"] if x["kind"] == "file"]
        assert files == ["a.txt", "empty", "sub/b.bin"]
    with pytest.raises(syncwright.InvalidInputError):
        syncwright.Engine(worker_threads=-1)
    assert "closed" in repr(e)


def test_sync_releases_the_gil(engine, tmp_path):
    src = tmp_path / "src"
    make_big(src, files=2, size=256 * 1024)
    counter = [0]
    started, finished = threading.Event(), threading.Event()

    def spin():
        started.set()
        while not finished.is_set() and counter[0] < 10**9:
            counter[0] += 1

    spinner = threading.Thread(target=spin)
    spinner.start()
    try:
        assert started.wait(LONG)
        seen = []
        before = counter[0]
        # The final progress call happens before sync returns: what it sees was counted while sync was running.
        report = engine.sync(src, tmp_path / "dst", bwlimit=2 << 20, on_progress=lambda p: seen.append(counter[0]))
    finally:
        finished.set()
        spinner.join()
    assert report["status"] == "completed"
    assert seen[-1] > before


def test_example_program(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    files = make_tree(src)
    env = dict(os.environ, SYNCWRIGHT_STATE_DIR=str(tmp_path / "state"))
    run = subprocess.run(
        [sys.executable, str(EXAMPLE), str(src), str(dst), '{"transfers": 2, "progress_interval_ms": 10}'],
        capture_output=True,
        text=True,
        env=env,
        timeout=LONG,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 1
    report = json.loads(lines[0])
    assert report["status"] == "completed"
    assert tree_bytes(dst) == files
    progress = run.stderr.splitlines()
    assert progress and all(line.startswith("progress ") for line in progress)
    assert progress[-1] == "progress 100.0 done"

    bad = subprocess.run(
        [sys.executable, str(EXAMPLE), str(src), str(dst), '{"no_such_option": 1}'],
        capture_output=True,
        text=True,
        env=env,
        timeout=LONG,
    )
    assert bad.returncode == 1 and "invalid_input" in bad.stderr
    missing = subprocess.run(
        [sys.executable, str(EXAMPLE), str(tmp_path / "missing"), str(dst), "{}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=LONG,
    )
    assert missing.returncode == 1 and json.loads(missing.stdout)["status"] == "failed"


INTERRUPTED_CHILD = r"""
import json, sys, syncwright
src, dst, state = sys.argv[1:]
moving = []

def on_progress(p):
    if p["bytes_done"] > 0 and not moving:
        moving.append(1)
        print("moving", flush=True)  # the parent sends SIGINT now

with syncwright.Engine(state) as engine:
    events = engine.subscribe()
    try:
        engine.sync(src, dst, bwlimit=65536, chunk_size=16384, progress_interval_ms=20, on_progress=on_progress)
        print("not interrupted", flush=True)
    except KeyboardInterrupt:
        finished = [e for e in iter(lambda: events.next(timeout=0), None) if e["type"] == "job_finished"]
        print(json.dumps([e["status"] for e in finished]), flush=True)
"""


def test_ctrl_c_during_sync_cancels_the_job(tmp_path):
    import signal

    src, dst = tmp_path / "src", tmp_path / "dst"
    make_big(src)
    child = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTED_CHILD, str(src), str(dst), str(tmp_path / "state")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline() == "moving\n"
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=LONG)
    finally:
        child.kill()
    assert child.returncode == 0, err
    assert json.loads(out) == ["cancelled"]
    assert temporaries(dst) == []


EXITING_CHILD = r"""
import sys, threading, syncwright
src, dst, state = sys.argv[1:]
engine = syncwright.Engine(state)
moving = threading.Event()
job = engine.start(src, dst, bwlimit=65536, chunk_size=16384, progress_interval_ms=20,
                   on_progress=lambda p: p["bytes_done"] > 0 and moving.set())
assert moving.wait(120)
print(job.status, flush=True)
"""


def test_exit_with_a_running_job_cancels_it_cleanly(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    make_big(src)
    run = subprocess.run(
        [sys.executable, "-c", EXITING_CHILD, str(src), str(dst), str(tmp_path / "state")],
        capture_output=True,
        text=True,
        timeout=LONG,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == "running\n"
    assert temporaries(dst) == []


def test_types_check_strictly():
    """The package's annotations and stubs against typical calls, when mypy is installed (`pip install mypy`)."""
    pytest.importorskip("mypy")
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(Path(__file__).with_name("typing_usage.py"))],
        capture_output=True,
        text=True,
        timeout=LONG * 2,
    )
    assert run.returncode == 0, run.stdout + run.stderr
