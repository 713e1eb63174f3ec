#!/usr/bin/env python3
"""Interleaved benchmark of `syncwright sync` against rsync on a generated tree.

Each scenario runs every command RUNS times, interleaved (run 1 of each command, then run 2 of each, ...), and
reports medians, the ratio syncwright/rsync, and peak RSS (the largest resident set of the process tree, from
wait4). The page cache is warm for every command alike.

Scenarios:
  initial       rsync -a            vs  syncwright sync          (empty destination each run)
  initial_fsync rsync -a --fsync    vs  syncwright sync          (syncwright always fsyncs before rename)
  nochange      rsync -a            vs  syncwright sync          (destination already in sync)
  checksum      rsync -ac           vs  syncwright sync -c       (in sync; syncwright trusts its destination
                                                                  manifest and re-hashes the source: no hash cache)
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time


def run(cmd, env=None):
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, ru = os.wait4(p.pid, 0)
    dt = time.perf_counter() - t0
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit("command failed (%d): %s\n%s" % (code, " ".join(cmd), err))
    return dt, ru.ru_maxrss * 1024


def rm(path):
    shutil.rmtree(path, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", required=True)
    ap.add_argument("--work", required=True, help="folder for destinations and state")
    ap.add_argument("--bin", required=True, help="the syncwright binary")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--scenarios", default="initial,initial_fsync,nochange,checksum")
    ap.add_argument("--json", help="write results here")
    a = ap.parse_args()
    src = a.src.rstrip("/")
    os.makedirs(a.work, exist_ok=True)
    d_rsync = os.path.join(a.work, "dst-rsync")
    d_sw = os.path.join(a.work, "dst-sw")
    state = os.path.join(a.work, "state")
    sw = [a.bin, "--state-dir", state, "sync", src, d_sw, "--no-progress"]

    def fresh_state_sw(extra):
        def cmd():
            rm(state)
            return sw + extra
        return cmd

    scenarios = {
        "initial": [
            ("rsync -a", lambda: rm(d_rsync), lambda: ["rsync", "-a", src + "/", d_rsync + "/"]),
            ("syncwright", lambda: (rm(d_sw), rm(state)), lambda: sw),
        ],
        "initial_fsync": [
            ("rsync -a --fsync", lambda: rm(d_rsync), lambda: ["rsync", "-a", "--fsync", src + "/", d_rsync + "/"]),
            ("syncwright", lambda: (rm(d_sw), rm(state)), lambda: sw),
        ],
        "nochange": [
            ("rsync -a", None, lambda: ["rsync", "-a", src + "/", d_rsync + "/"]),
            ("syncwright", None, lambda: sw),
        ],
        "checksum": [
            ("rsync -ac", None, lambda: ["rsync", "-ac", src + "/", d_rsync + "/"]),
            ("syncwright -c", None, fresh_state_sw(["--checksum"])),
        ],
    }
    results = {}
    for name in a.scenarios.split(","):
        cmds = scenarios[name]
        if name in ("nochange", "checksum"):
            # Bring both destinations in sync first (not timed).
            run(["rsync", "-a", src + "/", d_rsync + "/"])
            run(sw)
        times = {label: [] for label, _, _ in cmds}
        rss = {label: 0 for label, _, _ in cmds}
        for i in range(a.runs):
            for label, prep, cmd in cmds:
                if prep:
                    prep()
                c = cmd()
                dt, peak = run(c)
                times[label].append(dt)
                rss[label] = max(rss[label], peak)
        base, ours = cmds[0][0], cmds[1][0]
        med = {k: statistics.median(v) for k, v in times.items()}
        results[name] = {
            "median_s": med,
            "all_s": times,
            "peak_rss_bytes": rss,
            "ratio": med[ours] / med[base],
        }
        print("%-14s %-18s %8.3f s   %-16s %8.3f s   ratio %.2f   peak RSS %.1f MB vs %.1f MB" % (
            name, base, med[base], ours, med[ours], med[ours] / med[base], rss[base] / 1e6, rss[ours] / 1e6))
        sys.stdout.flush()
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
