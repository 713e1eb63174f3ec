"""The same scenario through every front door (Rust, C, Python, Node) yields the same canonical report.

Each front door has a `sync_report` example program (examples/<lang>/, core/examples/sync_report.rs) that runs
`sync_report SRC DST OPTIONS_JSON` and prints the canonical report JSON. This test runs each of them on fresh copies
of one generated tree and compares the reports, timestamps (run times and the mtimes of entries made at test
time), ids and the locations themselves aside.

Environment (scripts/test.sh sets it): SW_TARGET_DIR, the cargo output folder holding libsyncwright_ffi.so and
examples/sync_report; SW_PYTHON, the interpreter with the syncwright wheel installed.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TARGET = Path(os.environ.get("SW_TARGET_DIR", ROOT / "target" / "debug"))
PYTHON = os.environ.get("SW_PYTHON", sys.executable)

SCENARIOS = {
    "mirror": {"delete": True},
    "dry_run_checksum": {"dry_run": True, "compare": "checksum", "list_identical": True},
    "busy_and_excluded": {"min_age_secs": 3600, "exclude": ["*.tmp"]},
}


def make_tree(root: Path) -> None:
    """A small tree with every kind of entry, and fixed mtimes so that every run sees the same thing."""
    files = {
        "a.txt": b"alpha\n",
        "dir/b.bin": bytes(range(256)) * 40,
        "dir/sub/c.png": b"\x89PNG" + b"x" * 5000,
        "skip.tmp": b"temporary",
        "caf\u00e9.txt": b"nfc",
        "-dash": b"d",
    }
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        os.utime(p, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    (root / "empty").mkdir()
    os.symlink("a.txt", root / "link")
    # Written just now: busy under min_age_secs.
    (root / "fresh.log").write_bytes(b"still being written")


def make_dest(root: Path) -> None:
    """A destination with a file the mirror scenario deletes and one it updates."""
    (root / "old.txt").parent.mkdir(parents=True, exist_ok=True)
    (root / "old.txt").write_bytes(b"only here")
    (root / "a.txt").write_bytes(b"stale")


def front_doors() -> dict:
    doors = {}
    rust = TARGET / "examples" / "sync_report"
    doors["rust"] = [str(rust)]
    c_bin = TARGET / "sync_report_c"
    doors["c"] = [str(c_bin)]
    doors["python"] = [PYTHON, str(ROOT / "examples" / "python" / "sync_report.py")]
    doors["node"] = ["node", str(ROOT / "examples" / "node" / "sync_report.js")]
    return doors


@pytest.fixture(scope="session", autouse=True)
def build_c_example(tmp_path_factory):
    """Builds examples/c/sync_report.c with plain gcc against the committed header and the built library.

    The library's soname is libsyncwright_ffi.so.<major>, the file the program then loads; cargo writes only
    libsyncwright_ffi.so (scripts/install-c.sh installs both), so the rpath names a folder with that link."""
    out = TARGET / "sync_report_c"
    links = tmp_path_factory.mktemp("lib")
    soname = subprocess.run(["readelf", "-d", str(TARGET / "libsyncwright_ffi.so")], check=True, text=True,
                            capture_output=True).stdout.split("Library soname: [", 1)[1].split("]", 1)[0]
    (links / soname).symlink_to(TARGET / "libsyncwright_ffi.so")
    subprocess.run(
        ["gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", str(ROOT / "examples" / "c" / "sync_report.c"),
         "-I", str(ROOT / "include"), "-L", str(TARGET), "-lsyncwright_ffi", f"-Wl,-rpath,{links}", "-o", str(out)],
        check=True,
    )


def drop_mtimes(v):
    """Entries made at test time (the empty folder, the link, the busy file) differ in mtime between runs."""
    if isinstance(v, dict):
        return {k: drop_mtimes(x) for k, x in v.items() if k != "mtime_ns"}
    if isinstance(v, list):
        return [drop_mtimes(x) for x in v]
    return v


def normalise(report: dict, src: Path, dst: Path) -> dict:
    r = json.loads(json.dumps(report).replace(str(dst), "<dst>").replace(str(src), "<src>"))
    for k in ("run_id", "started_at", "finished_at", "duration_ms"):
        assert k in r, f"canonical field {k} missing"
        r.pop(k)
    return drop_mtimes(r)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_front_door_gives_the_same_report(tmp_path, scenario):
    reports = {}
    for name, cmd in front_doors().items():
        base = tmp_path / name
        src, dst, state = base / "src", base / "dst", base / "state"
        src.mkdir(parents=True)
        make_tree(src)
        make_dest(dst)
        env = dict(os.environ, SYNCWRIGHT_STATE_DIR=str(state))
        p = subprocess.run(cmd + [str(src), str(dst), json.dumps(SCENARIOS[scenario])],
                           capture_output=True, text=True, env=env, timeout=120)
        assert p.returncode in (0, 3), f"{name}: exit {p.returncode}\n{p.stderr}"
        lines = [l for l in p.stdout.splitlines() if l.strip()]
        assert len(lines) == 1, f"{name}: expected one JSON line, got {p.stdout!r}"
        reports[name] = normalise(json.loads(lines[0]), src, dst)
        assert "progress" in p.stderr, f"{name}: the progress callback printed nothing"
    first = reports["rust"]
    assert first["status"] in ("completed", "partial")
    for name, r in reports.items():
        assert r == first, f"{name} differs from rust:\n{json.dumps(r, indent=1)}\nvs\n{json.dumps(first, indent=1)}"


def test_a_failed_run_reports_the_same_everywhere(tmp_path):
    reports = {}
    for name, cmd in front_doors().items():
        missing, dst = tmp_path / name / "missing", tmp_path / name / "dst"
        env = dict(os.environ, SYNCWRIGHT_STATE_DIR=str(tmp_path / name / "state"))
        p = subprocess.run(cmd + [str(missing), str(dst), "{}"], capture_output=True, text=True, env=env, timeout=120)
        assert p.returncode == 1, f"{name}: exit {p.returncode}\n{p.stderr}"
        reports[name] = normalise(json.loads(p.stdout.strip().splitlines()[-1]), missing, dst)
        assert reports[name]["status"] == "failed"
        assert reports[name]["fatal"]["kind"] == "not_found"
    for name, r in reports.items():
        assert r == reports["rust"], name
