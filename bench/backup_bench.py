#!/usr/bin/env python3
"""Interleaved benchmark of syncwright's local backups against Info-ZIP.

  create   zip -r -q OUT.zip PATHS (in SRC)      vs  syncwright backup create (a config's [backup]: SRC's entries)
  restore  unzip -q ARCHIVE -d T && sync         vs  syncwright backup restore ARCHIVE --target T

Every command runs RUNS times, interleaved (run 1 of each, then run 2 of each, ...); the table gives medians, the
ratio syncwright / Info-ZIP and the peak resident set of each process tree (from wait4). Before every timed run the
outputs of the previous one are removed and `sync` is called (untimed), so that no run pays for another's dirty
pages. Both restores extract the same archive: the one syncwright made (zip's own archive deflates every file,
which would only make unzip slower).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time


def run(cmd, cwd=None):
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=cwd)
    _, status, ru = os.wait4(p.pid, 0)
    dt = time.perf_counter() - t0
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit("command failed (%d): %s\n%s" % (code, " ".join(cmd), err))
    return dt, ru.ru_maxrss * 1024


def rm(path):
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.exists(path):
        os.remove(path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--bin", required=True, help="the syncwright command")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--scenarios", default="create,restore")
    ap.add_argument("--json", help="write results here")
    a = ap.parse_args()
    src = os.path.abspath(a.src.rstrip("/"))
    work = os.path.abspath(a.work)
    os.makedirs(work, exist_ok=True)
    paths = sorted(os.listdir(src))
    zip_out = os.path.join(work, "infozip.zip")
    sw_dir = os.path.join(work, "sw-backups")
    t_unzip = os.path.join(work, "t-unzip")
    t_sw = os.path.join(work, "t-sw")
    # The command reads [backup] from a config: the tree's top-level entries, kept (nearly) without rotation.
    cfg = os.path.join(work, "backup.toml")
    with open(cfg, "w") as f:
        f.write("[settings]\nstate_dir = %s\n[backup]\nroot = %s\npaths = %s\nmax_backups = 50\n" % (
            json.dumps(os.path.join(work, "state")), json.dumps(src), json.dumps(paths)))
    sw = [a.bin, "--config", cfg, "backup", "--backups", sw_dir]

    def sw_archive():
        names = [n for n in os.listdir(sw_dir) if n.endswith(".zip")] if os.path.isdir(sw_dir) else []
        return os.path.join(sw_dir, sorted(names)[-1]) if names else None

    scenarios = {
        "create": [
            ("zip -r -q", lambda: rm(zip_out), lambda: ["zip", "-r", "-q", zip_out] + paths, src),
            ("syncwright", lambda: rm(sw_dir), lambda: sw + ["create"], None),
        ],
        "restore": [
            ("unzip -q && sync", lambda: rm(t_unzip),
             lambda: ["sh", "-c", 'unzip -q "$0" -d "$1" && sync', sw_archive(), t_unzip], None),
            ("syncwright", lambda: rm(t_sw), lambda: sw + ["restore", sw_archive(), "--target", t_sw], None),
        ],
    }
    results = {}
    for name in a.scenarios.split(","):
        cmds = scenarios[name]
        if name == "restore" and sw_archive() is None:
            run(sw + ["create"])
        times = {label: [] for label, _, _, _ in cmds}
        rss = {label: 0 for label, _, _, _ in cmds}
        for _ in range(a.runs):
            for label, prep, cmd, cwd in cmds:
                prep()
                os.sync()
                dt, peak = run(cmd(), cwd)
                times[label].append(dt)
                rss[label] = max(rss[label], peak)
        base, ours = cmds[0][0], cmds[1][0]
        med = {k: statistics.median(v) for k, v in times.items()}
        results[name] = {"median_s": med, "all_s": times, "peak_rss_bytes": rss, "ratio": med[ours] / med[base]}
        print("%-8s %-18s %8.3f s   %-10s %8.3f s   ratio %.2f   peak RSS %.1f MB vs %.1f MB" % (
            name, base, med[base], ours, med[ours], med[ours] / med[base], rss[base] / 1e6, rss[ours] / 1e6))
        sys.stdout.flush()
    for p in (zip_out, t_unzip, t_sw):
        rm(p)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
