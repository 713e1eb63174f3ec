"""examples/python/comfyui_sync_extension.py: document 1's seven routes over AsyncEngine, driven with aiohttp's
test client (status codes, bodies, files on disk), type-checked with mypy --strict, and run standalone."""

import asyncio
import contextlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import syncwright

pytest.importorskip("aiohttp")
from aiohttp import web  # noqa: E402
from aiohttp.test_utils import TestClient, TestServer  # noqa: E402

LONG = 120.0
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "python" / "comfyui_sync_extension.py"
ERROR_KEYS = {"success", "error", "message"}


def load_example():
    spec = importlib.util.spec_from_file_location("comfyui_sync_extension", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


ext = load_example()


def write_config(tmp: Path, *, slow: bool = False, broken: bool = False, name: str = "syncwright.toml") -> Path:
    """A config with absolute paths: user_data (two small files), and slow (3 MiB at 64 KiB/s: about 48 s) or
    broken (a missing source) when asked."""
    src = tmp / "src"
    (src / "sub").mkdir(parents=True, exist_ok=True)
    (src / "a.txt").write_bytes(b"hello\n")
    if not (src / "sub" / "b.bin").exists():
        (src / "sub" / "b.bin").write_bytes(os.urandom(50_000))
    q = lambda p: json.dumps(str(p))  # noqa: E731
    text = (
        f"[settings]\ncoordination_dir = {q(tmp / 'coord')}\nstate_dir = {q(tmp / 'state')}\n"
        f"log_dir = {q(tmp / 'logs')}\n"
        f"[profiles.user_data]\nsource = {q(src)}\ndestination = {q(tmp / 'dst')}\n"
    )
    if slow:
        big = tmp / "big"
        big.mkdir(exist_ok=True)
        (big / "big.bin").write_bytes(os.urandom(3 << 20))
        text += f'[profiles.slow]\nsource = {q(big)}\ndestination = {q(tmp / "bigdst")}\nbwlimit = "64K"\n'
    if broken:
        text += f"[profiles.broken]\nsource = {q(tmp / 'missing')}\ndestination = {q(tmp / 'brokendst')}\n"
    f = tmp / name
    f.write_text(text)
    return f


def run(coro):
    """Run a test coroutine, bounded."""
    return asyncio.run(asyncio.wait_for(coro, LONG * 2))


@contextlib.asynccontextmanager
async def client_for(app: web.Application):
    async with TestClient(TestServer(app)) as client:
        yield client


async def answer(response):
    """Status and JSON body; no error body ever carries a traceback."""
    text = await response.text()
    assert "Traceback" not in text
    return response.status, json.loads(text)


def assert_error(status, body, expected_status):
    assert status == expected_status, body
    assert set(body) == ERROR_KEYS, body
    assert body["success"] is False and body["error"] and body["message"]


async def next_transferring(sub) -> str:
    """The job id of the first progress event at stage "transferring" (bounded)."""

    async def first() -> str:
        async for event in sub:
            if event["progress"]["stage"] == "transferring":
                return event["job_id"]
        raise AssertionError("the subscription ended")

    return await asyncio.wait_for(first(), LONG)


def temporaries(root: Path) -> list:
    return [p for p in root.rglob("*") if ".swtmp-" in p.name]


def test_every_route_over_one_engine(tmp_path):
    config = write_config(tmp_path, slow=True)
    base = "/filesystem/sync"

    async def main() -> None:
        app = ext.make_app(str(config), run_timeout=LONG)
        async with client_for(app) as client:
            routes = app[ext.ROUTES_KEY]
            engine = routes.engine
            assert isinstance(engine, syncwright.AsyncEngine)

            # status: every profile idle
            status, body = await answer(await client.get(f"{base}/status"))
            assert status == 200
            assert body["success"] is True and body["status"] == "retrieved"
            assert body["message"] == "Sync status retrieved successfully"
            assert body["output"].split("\n") == ["slow: idle; never run", "user_data: idle; never run"]
            assert [p["state"] for p in body["profiles"]] == ["idle", "idle"]

            # list
            status, body = await answer(await client.get(f"{base}/list"))
            assert status == 200 and body["success"] is True and body["status"] == "retrieved"
            assert body["available_syncs"] == ["slow", "user_data"]
            assert body["output"].split("\n") == [
                f"slow: sync {tmp_path / 'big'} -> {tmp_path / 'bigdst'}",
                f"user_data: sync {tmp_path / 'src'} -> {tmp_path / 'dst'}",
            ]
            assert body["message"] == "Successfully retrieved sync scripts list"

            # run user_data: done within the timeout
            status, body = await answer(await client.post(f"{base}/run", json={"sync_type": "user_data"}))
            assert status == 200, body
            assert body["success"] is True and body["status"] == "completed" and body["sync_type"] == "user_data"
            assert body["output"].startswith("completed: 2 created")
            assert body["message"] == "Successfully ran user_data sync"
            run_id = body["job_id"]
            assert (tmp_path / "dst" / "a.txt").read_bytes() == b"hello\n"
            assert (tmp_path / "dst" / "sub" / "b.bin").read_bytes() == (tmp_path / "src" / "sub" / "b.bin").read_bytes()

            # status after the run
            status, body = await answer(await client.get(f"{base}/status"))
            assert status == 200
            line = body["output"].split("\n")[1]
            assert line.startswith("user_data: idle; last run completed at ")
            user_data = body["profiles"][1]
            assert user_data["state"] == "success" and user_data["last_run"]["job_id"] == run_id

            # run: bad requests and an unknown profile
            status, body = await answer(await client.post(f"{base}/run", json={}))
            assert_error(status, body, 400)
            assert "sync_type" in body["error"]
            status, body = await answer(await client.post(f"{base}/run"))
            assert_error(status, body, 400)
            status, body = await answer(await client.post(f"{base}/run", data=b"{not json"))
            assert_error(status, body, 400)
            status, body = await answer(await client.post(f"{base}/run", json={"sync_type": 5}))
            assert_error(status, body, 400)
            status, body = await answer(await client.post(f"{base}/run", json={"sync_type": "nope"}))
            assert_error(status, body, 404)

            # run slow past a tiny timeout: 202, the job goes on
            routes.run_timeout = 0.2
            sub = await engine.subscribe(filter={"profile": "slow", "types": ["progress"]})
            status, body = await answer(await client.post(f"{base}/run", json={"sync_type": "slow"}))
            assert status == 202, body
            assert body["success"] is True and body["status"] == "running" and body["sync_type"] == "slow"
            slow_id = body["job_id"]
            assert await next_transferring(sub) == slow_id
            sub.close()
            job = await engine.job(slow_id)
            assert job.status == "running"

            # a second run of slow: 409 naming the running job
            status, body = await answer(await client.post(f"{base}/run", json={"sync_type": "slow"}))
            assert status == 409, body
            assert body["success"] is False and body["error"] and body["message"]
            assert body["running_job_id"] == slow_id
            assert isinstance(body["started_at"], str) and body["started_at"]
            status, body = await answer(await client.get(f"{base}/status"))
            assert body["output"].split("\n")[0].startswith(f"slow: running (job {slow_id}")
            assert body["profiles"][0]["running"] is True

            # unlock slow: cancels its job (unlock waits for it)
            status, body = await answer(await client.post(f"{base}/unlock", json={"sync_type": "slow"}))
            assert status == 200, body
            assert body["success"] is True and body["status"] == "unlocked"
            assert body["cancelled_jobs"] == [slow_id]
            assert f"cancelled job {slow_id}" in body["output"].split("\n")
            assert body["message"] == "Successfully unlocked slow sync locks"
            assert job.status == "cancelled"
            report = await asyncio.wait_for(job.wait_async(), LONG)
            assert report["status"] == "cancelled"
            assert (await engine.profile_status("slow"))["running"] is False
            assert not (tmp_path / "bigdst" / "big.bin").exists()
            assert temporaries(tmp_path / "bigdst") == []

            # unlock all: nothing left; force passes through and must be a boolean
            status, body = await answer(await client.post(f"{base}/unlock", json={}))
            assert status == 200 and body["success"] is True and body["status"] == "unlocked"
            assert body["output"] == "no locks to remove"
            assert body["message"] == "Successfully unlocked all sync locks"
            status, body = await answer(await client.post(f"{base}/unlock"))
            assert status == 200 and body["message"] == "Successfully unlocked all sync locks"
            status, body = await answer(
                await client.post(f"{base}/unlock", json={"sync_type": "user_data", "force": True})
            )
            assert status == 200 and body["message"] == "Successfully unlocked user_data sync locks"
            status, body = await answer(await client.post(f"{base}/unlock", json={"force": "yes"}))
            assert_error(status, body, 400)
            status, body = await answer(await client.post(f"{base}/unlock", json={"sync_type": "nope"}))
            assert_error(status, body, 404)

            # the lock self-test
            status, body = await answer(await client.post(f"{base}/test"))
            assert status == 200, body
            assert body["success"] is True and body["status"] == "test_passed"
            assert body["message"] == "Sync lock test passed for test_sync"
            steps = body["output"].split("\n")
            assert len(steps) == 4 and steps[0] == f"acquired test_sync in {tmp_path / 'coord'}"
            status, body = await answer(await client.post(f"{base}/test", json={"sync_type": "my_lock"}))
            assert status == 200 and body["message"] == "Sync lock test passed for my_lock"

            # logs
            status, body = await answer(await client.get(f"{base}/logs/user_data", params={"lines": "1"}))
            assert status == 200, body
            assert body["success"] is True and body["status"] == "retrieved" and body["sync_type"] == "user_data"
            assert body["lines_requested"] == 1
            [entry] = body["output"].split("\n")
            timestamp, level, message = entry.split(" ", 2)
            assert timestamp[:4].isdigit() and level == "info" and message.startswith("sync completed: 2 created")
            assert body["message"] == "Successfully retrieved user_data logs"
            status, body = await answer(await client.get(f"{base}/logs/user_data"))
            assert status == 200 and body["lines_requested"] == 20 and len(body["output"].split("\n")) == 2
            for bad in ("abc", "0", "-3", "1.5", ""):
                status, body = await answer(await client.get(f"{base}/logs/user_data", params={"lines": bad}))
                assert_error(status, body, 400)
            status, body = await answer(await client.get(f"{base}/logs/nope"))
            assert_error(status, body, 404)

            # run_all past the tiny timeout: 202; unlocking slow cancels its part, the rest runs
            sub = await engine.subscribe(filter={"profile": "slow", "types": ["progress"]})
            status, body = await answer(await client.post(f"{base}/run_all"))
            assert status == 202, body
            assert body["success"] is True and body["status"] == "running"
            all_id = body["job_id"]
            part_id = await next_transferring(sub)
            sub.close()
            status, body = await answer(await client.post(f"{base}/unlock", json={"sync_type": "slow"}))
            assert status == 200 and body["cancelled_jobs"] == [part_id]
            report = await asyncio.wait_for((await engine.job(all_id)).wait_async(), LONG)
            assert report["type"] == "run_all" and report["status"] == "partial"
            assert report["results"]["slow"]["status"] == "cancelled"
            assert report["results"]["user_data"]["status"] == "completed"
        assert engine.closed  # the app's cleanup closed it

    run(main())


def test_run_all_on_routes_of_a_route_table(tmp_path):
    """The ComfyUI way: routes on a RouteTableDef (PromptServer.instance.routes) over an engine opened elsewhere."""

    async def main() -> None:
        config = write_config(tmp_path, broken=True)
        async with await syncwright.AsyncEngine.open(config_file=config) as engine:
            table = web.RouteTableDef()
            ext.setup_routes(table, engine)
            app = web.Application()
            app.add_routes(table)
            async with client_for(app) as client:
                status, body = await answer(await client.post("/filesystem/sync/run_all"))
                assert status == 200, body
                assert body["success"] is False and body["status"] == "partial"
                assert body["total_syncs"] == 2
                assert body["successful_syncs"] == ["user_data"] and body["failed_syncs"] == ["broken"]
                details = body["detailed_results"]
                assert set(details) == {"broken", "user_data"}
                assert details["user_data"]["success"] is True and details["user_data"]["status"] == "completed"
                assert details["user_data"]["output"].startswith("completed: 2 created")
                assert details["broken"]["success"] is False and details["broken"]["status"] == "failed"
                assert "cannot open" in details["broken"]["output"]
                assert body["output"].split("\n")[-1] == "1 of 2 profiles completed"
                assert body["message"] == "1 of 2 syncs failed" and body["error"]
                assert (tmp_path / "dst" / "a.txt").read_bytes() == b"hello\n"

        config = write_config(tmp_path, name="good.toml")
        async with await syncwright.AsyncEngine.open(config_file=config) as engine:
            app = web.Application()
            ext.setup_routes(app, engine)
            async with client_for(app) as client:
                status, body = await answer(await client.post("/filesystem/sync/run_all"))
                assert status == 200, body
                assert body["success"] is True and body["status"] == "completed"
                assert body["total_syncs"] == 1 and body["successful_syncs"] == ["user_data"]
                assert body["failed_syncs"] == []
                assert body["detailed_results"]["user_data"]["success"] is True
                assert body["message"] == "All syncs completed successfully"

    run(main())


def test_a_lock_held_elsewhere_is_a_conflict_unless_forced(tmp_path):
    """Another engine (another ComfyUI pod) runs slow: /run and /unlock answer 409; force removes the locks."""
    config = write_config(tmp_path, slow=True)

    async def main() -> None:
        async with await syncwright.AsyncEngine.open(config_file=config) as elsewhere:
            sub = await elsewhere.subscribe(filter={"profile": "slow", "types": ["progress"]})
            job = await elsewhere.run_profile("slow")
            assert await next_transferring(sub) == job.id
            sub.close()
            async with await syncwright.AsyncEngine.open(config_file=config) as engine:
                app = web.Application()
                ext.setup_routes(app, engine)
                async with client_for(app) as client:
                    status, body = await answer(await client.post("/filesystem/sync/run", json={"sync_type": "slow"}))
                    assert status == 409 and body["running_job_id"] == job.id
                    status, body = await answer(
                        await client.post("/filesystem/sync/unlock", json={"sync_type": "slow"})
                    )
                    assert_error(status, body, 409)
                    assert "force" in body["message"]
                    assert job.status == "running"
                    status, body = await answer(
                        await client.post("/filesystem/sync/unlock", json={"sync_type": "slow", "force": True})
                    )
                    assert status == 200 and body["success"] is True, body
                    assert body["output"].startswith("removed profile-slow in ")
            job.cancel()
            report = await asyncio.wait_for(job.wait_async(), LONG)
            assert report["status"] == "cancelled"

    run(main())


class _FailingEngine:
    """Stands in for an AsyncEngine whose calls fail."""

    closed = False

    def __init__(self, error: BaseException) -> None:
        self.error = error

    async def profiles_status(self):
        raise self.error

    async def profiles(self):
        raise self.error


def test_errors_map_to_http_statuses_without_secrets_or_tracebacks(tmp_path):
    assert [ext.http_status(k) for k in ("invalid_input", "not_found", "conflict", "unavailable")] == [
        400,
        404,
        409,
        503,
    ]
    assert ext.http_status("permission") == 500 and ext.http_status("internal") == 500

    async def main() -> None:
        cases = [
            (RuntimeError("token=hunter2 at line 3"), 500),
            (syncwright.UnavailableError("the NAS is not mounted"), 503),
            (syncwright.SyncwrightPermissionError("permission denied"), 500),
            (syncwright.InvalidInputError("bad"), 400),
        ]
        for error, expected in cases:
            app = web.Application()
            ext.setup_routes(app, _FailingEngine(error))
            async with client_for(app) as client:
                for path in ("/filesystem/sync/status", "/filesystem/sync/list"):
                    response = await client.get(path)
                    text = await response.text()
                    assert "hunter2" not in text
                    status, body = await answer(response)
                    assert_error(status, body, expected)

        # no engine (yet, or one that could not be opened): 503, the sync manager is not available
        app = web.Application()
        routes = ext.SyncRoutes()
        routes.register(app)
        app.cleanup_ctx.append(routes.engine_context(str(tmp_path / "missing.toml"), required=False))
        async with client_for(app) as client:
            assert routes.engine is None
            status, body = await answer(await client.get("/filesystem/sync/status"))
            assert_error(status, body, 503)
            status, body = await answer(await client.post("/filesystem/sync/run", json={"sync_type": "user_data"}))
            assert_error(status, body, 503)

    run(main())


def test_example_types_check_strictly():
    pytest.importorskip("mypy")
    check = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=LONG * 2,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_standalone_script_serves_the_routes(tmp_path):
    config = write_config(tmp_path)
    port = free_port()
    out = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLE), "--config", str(config), "--port", str(port), "--host", "127.0.0.1"],
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}/filesystem/sync/list"
        deadline = time.monotonic() + LONG
        while True:  # bounded polling until the server answers
            try:
                with urllib.request.urlopen(url, timeout=10) as response:
                    assert response.status == 200
                    body = json.load(response)
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()
                try:
                    proc.wait(timeout=0.05)
                except subprocess.TimeoutExpired:
                    continue
                raise AssertionError("the server exited: " + (tmp_path / "server.log").read_text())
        assert body["success"] is True and body["available_syncs"] == ["user_data"]
        assert body["output"] == f"user_data: sync {tmp_path / 'src'} -> {tmp_path / 'dst'}"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/filesystem/sync/status", timeout=10) as response:
            assert json.load(response)["output"] == "user_data: idle; never run"
    finally:
        proc.terminate()
        try:
            code = proc.wait(timeout=LONG)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=LONG)
            raise
        finally:
            out.close()
    assert code == 0, (tmp_path / "server.log").read_text()
