"""Calls of the public API the way a user writes them, for `mypy --strict` (test_typing.py); never run."""
import asyncio
from pathlib import Path
from typing import Any, Dict, List, Optional

import syncwright


def show(p: Dict[str, Any]) -> None:
    print(p["percent"], p["stage"])


def blocking(src: Path, dst: str) -> int:
    with syncwright.Engine(state_dir=Path("/tmp/s"), no_store=False, worker_threads=2) as engine:
        report: Dict[str, Any] = engine.sync(src, dst, on_progress=show, transfers=4, include=["*.png"])
        plan: Dict[str, Any] = engine.plan(src, dst, list_identical=True)
        m: Dict[str, Any] = engine.build_manifest(src, exclude=["*.tmp"])
        job: syncwright.Job = engine.start(src, dst, bwlimit=1 << 20)
        jid: str = job.id
        status: str = job.status
        prog: Dict[str, Any] = job.progress()
        r: Optional[Dict[str, Any]] = job.wait(timeout=0.5)
        r2: Optional[Dict[str, Any]] = job.report()
        text: Optional[str] = job.report_json()
        job.cancel()
        sub: syncwright.Subscription = engine.subscribe()
        e: Optional[Dict[str, Any]] = sub.next(timeout=1)
        events: List[Dict[str, Any]] = [ev for ev in sub]
        lost: int = sub.lost
        closed: bool = sub.closed or engine.closed
        sub.close()
        replay: syncwright.Subscription = engine.subscribe(since=0, filter={"types": ["job_finished"]})
        seq: int = (replay.next(timeout=0) or {"seq": 0})["seq"]
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
    report: Dict[str, Any] = await job
    report2: Dict[str, Any] = await job.wait_async()
    report3: Dict[str, Any] = await engine.sync_async(src, dst, on_progress=show, dry_run=True)
    async for event in engine.subscribe():
        t: str = event["type"]
        print(t)
    print(report, report2, report3)
    engine.close()
