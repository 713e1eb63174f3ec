"""The whole front door from Python: profiles, status, runs, locks, jobs, history, logs, recovery, blocking and
async alike, with core's semantics and error kinds; the event loop never waits on the engine."""

import asyncio
import json
import os
import threading
import time
from pathlib import Path

import pytest

import syncwright

LONG = 120.0


def config_file(tmp: Path, slow: bool = False) -> Path:
    src = tmp / "src"
    (src / "sub").mkdir(parents=True, exist_ok=True)
    (src / "a.txt").write_bytes(b"hello\n")
    (src / "sub" / "b.bin").write_bytes(os.urandom(50_000))
    text = (
        '[settings]\ncoordination_dir = "coord"\nstate_dir = "state"\nlog_dir = "logs"\n'
        f"[profiles.user_data]\nsource = {json.dumps(str(src))}\ndestination = {json.dumps(str(tmp / 'dst'))}\n"
    )
    if slow:
        big = tmp / "big"
        big.mkdir(exist_ok=True)
        (big / "big.bin").write_bytes(os.urandom(3 << 20))
        text += (
            f"[profiles.slow]\nsource = {json.dumps(str(big))}\ndestination = {json.dumps(str(tmp / 'bigdst'))}\n"
            'bwlimit = "64K"\n'
        )
    f = tmp / "syncwright.toml"
    f.write_text(text)
    return f


def test_every_call_of_the_table_has_a_method_on_both_engines():
    for name, _args, _job, _blocking in syncwright._native.calls():
        assert callable(getattr(syncwright.Engine, name)), name
        assert asyncio.iscoroutinefunction(getattr(syncwright.AsyncEngine, name)), name


def test_profiles_status_run_history_and_logs(tmp_path):
    with syncwright.Engine.open(config_file(tmp_path)) as engine:
        assert [p["name"] for p in engine.profiles()] == ["user_data"]
        assert engine.profile_status("user_data")["state"] == "idle"
        job = engine.run_profile("user_data")
        report = job.wait(LONG)
        assert report is not None and report["status"] == "completed"
        assert (tmp_path / "dst" / "a.txt").read_bytes() == b"hello\n"
        status = engine.profile_status("user_data")
        assert status["state"] == "success"
        assert status["last_run"] is not None and status["last_run"]["job_id"] == job.id
        assert syncwright.report_text(report).startswith("completed: 2 created")
        assert syncwright.status_outcome(report["status"]) == "success"
        history = engine.run_history("user_data", per_page=5)
        assert [r["job_id"] for r in history["runs"]] == [job.id]
        assert history["pagination"]["total"] == 1
        tail = engine.profile_log_tail("user_data", lines=1)
        assert len(tail) == 1 and tail[0]["message"].startswith("sync completed")
        assert engine.job(job.id).snapshot(True)["report"]["run_id"] == report["run_id"]
        assert engine.operation(job.id)["state"] == "success"
        assert engine.lock_self_test()["name"] == "test_sync"
        usage = engine.storage_usage(root=tmp_path / "src")
        assert usage["total_size"] >= 50_006


def test_errors_have_the_kinds_of_core(tmp_path):
    with syncwright.Engine.open(config_file(tmp_path)) as engine:
        with pytest.raises(syncwright.NotFoundError):
            engine.profile_status("nope")
        with pytest.raises(syncwright.NotFoundError):
            engine.job("0000")
        with pytest.raises(syncwright.InvalidInputError):
            engine.run_history("user_data", per_page=0)
        with pytest.raises(syncwright.InvalidInputError):
            engine.profile_log_tail("user_data", level="loud")  # type: ignore[arg-type]
        with pytest.raises(syncwright.InvalidInputError):
            syncwright.report_text({"not": "a report"})
    assert syncwright.status_outcome("bogus") is None
    with pytest.raises(syncwright.NotFoundError):
        syncwright.Engine.open(tmp_path / "missing.toml")


def test_a_panic_is_internal_error_never_a_base_exception():
    with pytest.raises(syncwright.InternalError) as caught:
        syncwright._native._panic_for_test()
    assert isinstance(caught.value, syncwright.SyncwrightError)
    assert isinstance(caught.value, Exception)


def test_a_second_run_of_a_running_profile_is_a_conflict_and_unlock_cancels_it(tmp_path):
    with syncwright.Engine.open(config_file(tmp_path, slow=True)) as engine:
        moving = threading.Event()
        job = engine.run_profile("slow", on_progress=lambda p: p["stage"] == "transferring" and moving.set())
        assert moving.wait(LONG)
        with pytest.raises(syncwright.ConflictError) as caught:
            engine.run_profile("slow")
        assert caught.value.details is not None and caught.value.details["job_id"] == job.id
        assert engine.profile_status("slow")["state"] == "running"
        unlocked = engine.unlock_profile("slow")
        assert unlocked["cancelled_jobs"] == [job.id]
        assert job.status == "cancelled"


def test_close_cancels_the_running_jobs_and_waits_for_them(tmp_path):
    """close() cancels every running job and returns once they stopped; later calls raise."""
    f = config_file(tmp_path, slow=True)
    engine = syncwright.Engine.open(f)
    moving = threading.Event()
    job = engine.run_profile("slow", on_progress=lambda p: p["stage"] == "transferring" and moving.set())
    assert moving.wait(LONG)
    engine.close()
    assert job.status == "cancelled"
    assert not [p for p in (tmp_path / "bigdst").rglob("*") if ".swtmp-" in p.name]
    with pytest.raises(syncwright.InvalidInputError):
        engine.profiles()


def test_async_engine_calls_never_block_the_loop(tmp_path):
    f = config_file(tmp_path, slow=True)

    async def main() -> None:
        async with await syncwright.AsyncEngine.open(config_file=f) as engine:
            statuses = await engine.profiles_status()
            assert [s["profile"] for s in statuses] == ["slow", "user_data"]
            # The loop runs while calls are under way: a ticker counts while the status calls and a run are awaited.
            ticks = 0
            stop = asyncio.Event()

            async def ticker() -> None:
                nonlocal ticks
                while not stop.is_set():
                    ticks += 1
                    await asyncio.sleep(0)

            t = asyncio.create_task(ticker())
            job = await engine.run_profile("user_data")
            report = await job
            stop.set()
            await t
            assert report["status"] == "completed"
            assert ticks > 0
            assert (await engine.run_history("user_data"))["pagination"]["total"] == 1
            with pytest.raises(syncwright.NotFoundError):
                await engine.profile_status("nope")
            with pytest.raises(syncwright.ConflictError):
                await engine.cancel_operation(job.id)

    asyncio.run(main())


def test_cancelling_a_task_that_awaits_a_job_does_not_cancel_the_job(tmp_path):
    """aiohttp cancels a handler when its client goes away: the sync it started must go on."""
    f = config_file(tmp_path, slow=True)

    async def main() -> None:
        async with await syncwright.AsyncEngine.open(config_file=f) as engine:
            moved = asyncio.get_running_loop().create_future()
            loop = asyncio.get_running_loop()

            def progress(p: syncwright.ProgressSnapshot) -> None:
                if p["stage"] == "transferring" and not moved.done():
                    loop.call_soon_threadsafe(lambda: moved.done() or moved.set_result(None))

            job = await engine.run_profile("slow", on_progress=progress)
            waiter = asyncio.create_task(job.wait_async())
            await moved
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
            assert job.status == "running"
            # A cancelled awaiting call does not cancel the call either: the run it starts still starts.
            call = asyncio.create_task(engine.run_profile("user_data"))
            await asyncio.sleep(0)
            call.cancel()
            job.cancel()
            report = await job
            assert report["status"] == "cancelled"
        # close() waited for every job: the user_data run that the cancelled task started ended too.
        with syncwright.Engine.open(f) as again:
            runs = again.run_history("user_data")["runs"]
            assert all(r["status"] != "running" for r in runs)

    asyncio.run(main())


def test_timeouts_behave_as_in_c_and_node(tmp_path):
    with syncwright.Engine.open(config_file(tmp_path, slow=True)) as engine:
        job = engine.run_profile("slow")
        assert job.wait(0) is None  # 0: only looks
        with pytest.raises(syncwright.InvalidInputError):
            job.wait(float("nan"))
        job.cancel()
        report = job.wait(-1)  # negative: no limit
        assert report is not None and report["status"] == "cancelled"


def test_the_examples_type_check_strictly():
    """Every program of examples/python passes mypy --strict against the package's TypedDicts and stubs."""
    pytest.importorskip("mypy")
    import subprocess
    import sys

    examples = sorted(str(p) for p in (Path(__file__).resolve().parents[2] / "examples" / "python").glob("*.py"))
    assert examples
    p = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", *examples],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
