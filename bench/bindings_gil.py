#!/usr/bin/env python3
"""Python binding benchmarks: the GIL during a sync, and the per-call cost of a status call.

GIL: a pure-Python counting thread counts while a sync of a 20,000-file tree runs (a) in a child process and
(b) in this process (on a thread, through the binding). Its rate in (b) divided by its rate in (a) is the share of
the interpreter the binding leaves to Python code while it syncs: 1.0 when it never holds the GIL. Runs are
interleaved and the medians compared.

Status call: the mean time of `Engine.profile_status` (blocking) and of `AsyncEngine.profile_status` (awaited),
over CALLS calls on an engine with one idle profile.

    python bench/bindings_gil.py [--files 20000] [--runs 5] [--calls 2000]
"""
import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import syncwright

CHILD = """
import sys, syncwright
with syncwright.Engine(sys.argv[3]) as e:
    r = e.sync(sys.argv[1], sys.argv[2])
    assert r["status"] == "completed", r["status"]
"""


def make_tree(root: Path, files: int) -> None:
    for i in range(files):
        d = root / f"d{i % 200:03d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:06d}.txt").write_bytes(os.urandom(64 + i % 448))


class Counter:
    """A pure-Python loop on a thread: how many iterations it makes while `work` runs."""

    def __init__(self) -> None:
        self.n = 0
        self.stop = threading.Event()

    def run(self) -> None:
        n = 0
        stop = self.stop
        while not stop.is_set():
            for _ in range(1000):
                n += 1
            self.n = n


def rate_during(work) -> float:
    c = Counter()
    t = threading.Thread(target=c.run)
    t.start()
    start = time.perf_counter()
    try:
        work()
    finally:
        elapsed = time.perf_counter() - start
        c.stop.set()
        t.join()
    return c.n / elapsed


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--calls", type=int, default=2000)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sw-bench-gil-"))
    try:
        src = work / "src"
        make_tree(src, a.files)
        child, same = [], []
        for i in range(a.runs):
            d1, d2 = work / f"c{i}", work / f"s{i}"
            child.append(
                rate_during(
                    lambda: subprocess.run([sys.executable, "-c", CHILD, str(src), str(d1), str(work / "st-c")], check=True)
                )
            )
            with syncwright.Engine(work / "st-s") as engine:
                same.append(rate_during(lambda: engine.sync(src, d2)))
            shutil.rmtree(d1)
            shutil.rmtree(d2)
        mc, ms = statistics.median(child), statistics.median(same)
        print(f"counting thread, sync of {a.files} files in a child process: {mc / 1e6:.2f} M iterations/s (median of {a.runs})")
        print(f"counting thread, sync of {a.files} files in this process:    {ms / 1e6:.2f} M iterations/s (median of {a.runs})")
        print(f"ratio same-process / child-process: {ms / mc:.2f}")

        cfg = work / "sw.toml"
        (work / "p").mkdir()
        cfg.write_text(f'[settings]\nstate_dir = "{work}/st-p"\n[profiles.p]\nsource = "{work}/p"\ndestination = "{work}/pd"\n')
        with syncwright.Engine.open(cfg) as engine:
            engine.profile_status("p")
            t = time.perf_counter()
            for _ in range(a.calls):
                engine.profile_status("p")
            blocking = (time.perf_counter() - t) / a.calls

        async def awaited() -> float:
            async with await syncwright.AsyncEngine.open(config_file=cfg) as e:
                await e.profile_status("p")
                t = time.perf_counter()
                for _ in range(a.calls):
                    await e.profile_status("p")
                return (time.perf_counter() - t) / a.calls

        print(f"Engine.profile_status: {blocking * 1e6:.0f} us per call (mean of {a.calls})")
        print(f"AsyncEngine.profile_status: {asyncio.run(awaited()) * 1e6:.0f} us per call (mean of {a.calls})")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
