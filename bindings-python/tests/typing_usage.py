"""Calls of the public API the way a user writes them, for `mypy --strict` (test_typing.py); never run."""
import asyncio
from pathlib import Path
from typing import Any, Dict, List, Optional

import syncwright
from syncwright.types import Event, ManifestResult, Plan, ProfileStatus, ProgressSnapshot, SyncReport


def show(p: ProgressSnapshot) -> None:
    print(p["percent"], p["stage"])


def blocking(src: Path, dst: str) -> int:
    with syncwright.Engine(state_dir=Path("/tmp/s"), no_store=False, worker_threads=2) as engine:
        report: SyncReport = engine.sync(src, dst, on_progress=show, transfers=4, include=["*.png"])
        plan: Plan = engine.plan(src, dst, list_identical=True)
        m: ManifestResult = engine.build_manifest(src, exclude=["*.tmp"])
        job: syncwright.Job = engine.start(src, dst, bwlimit=1 << 20)
        jid: str = job.id
        status: str = job.status
        prog: ProgressSnapshot = job.progress()
        r: Optional[SyncReport] = job.wait(timeout=0.5)
        r2: Optional[SyncReport] = job.report()
        text: Optional[str] = job.report_json()
        job.cancel()
        sub: syncwright.Subscription = engine.subscribe()
        e: Optional[Event] = sub.next(timeout=1)
        events: List[Event] = [ev for ev in sub]
        lost: int = sub.lost
        closed: bool = sub.closed or engine.closed
        sub.close()
        replay: syncwright.Subscription = engine.subscribe(since=0, filter={"types": ["job_finished"]})
        nxt = replay.next(timeout=0)
        seq: int = nxt["seq"] if nxt is not None else 0
        replay.close()
        print(report, plan, m, jid, status, prog, r, r2, text, e, events, lost, closed, seq)
    try:
        syncwright.build_manifest(src, {"hash": False})
    except syncwright.InvalidInputError as err:
        print(err.kind, err.message, err.path)
    return 0


async def asynchronous(src: str, dst: str) -> None:
    engine = syncwright.Engine()
    job = engine.start(src, dst)
    report: SyncReport = await job
    report2: SyncReport = await job.wait_async()
    report3: SyncReport = await engine.sync_async(src, dst, on_progress=show, dry_run=True)
    async for event in engine.subscribe():
        t: str = event["type"]
        print(t)
    print(report, report2, report3)
    engine.close()


async def front_door(config: str) -> None:
    """The whole front door, blocking and async."""
    with syncwright.Engine.open(config) as engine:
        st: ProfileStatus = engine.profile_status("user_data")
        state: str = st["state"]
        job: syncwright.Job = engine.run_profile("user_data", on_progress=show)
        rep: Optional[SyncReport] = job.wait(10)
        text: str = syncwright.report_text(rep) if rep is not None else ""
        outcome: Optional[str] = syncwright.status_outcome("completed")
        print(state, text, outcome, engine.profiles(), engine.run_history("user_data", per_page=5)["pagination"])
        print(engine.profile_log_tail("user_data", lines=5, level="error"), engine.unlock_all(force=False)["removed"])
    async with await syncwright.AsyncEngine.open(config_file=config) as aengine:
        statuses = await aengine.profiles_status()
        ajob = await aengine.run_profile("user_data")
        areport: SyncReport = await ajob
        metrics = await aengine.recovery_metrics()
        print(statuses[0]["summary"], areport["status"], metrics["success_rate"], await aengine.lock_self_test())
