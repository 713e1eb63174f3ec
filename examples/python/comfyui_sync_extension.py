#!/usr/bin/env python3
"""comfyui_sync_extension.py - document 1's sync manager API (the seven routes under /filesystem/sync/) on aiohttp,
served by the syncwright binding (AsyncEngine) instead of a shell script.

Inside ComfyUI, a custom node package mounts the routes on the PromptServer and opens the engine when the server
starts (its aiohttp app's ``cleanup_ctx``), closing it when the server stops::

    # custom_nodes/syncwright_sync/__init__.py
    from server import PromptServer
    from .comfyui_sync_extension import SyncRoutes

    sync = SyncRoutes()
    sync.register(PromptServer.instance.routes)  # or PromptServer.instance.app
    PromptServer.instance.app.cleanup_ctx.append(sync.engine_context("/network/syncwright.toml", required=False))
    NODE_CLASS_MAPPINGS: dict = {}

Code that already has an open engine calls ``setup_routes(app_or_routes, engine)``. Standalone, for trying it out::

    python examples/python/comfyui_sync_extension.py --config FILE --port 8188 [--host 127.0.0.1]

The routes (``sync_type`` names a profile of the config file):

    GET  /filesystem/sync/status                  every profile's one-line summary
    POST /filesystem/sync/unlock    {sync_type?, force?}   remove a profile's locks (all locks without sync_type)
    POST /filesystem/sync/test      {sync_type?}  the lock self-test (default lock name "test_sync")
    POST /filesystem/sync/run       {sync_type}   run a profile; its report when it ends within ``run_timeout``
    POST /filesystem/sync/run_all                 run every profile in turn, same rule
    GET  /filesystem/sync/list                    the profiles
    GET  /filesystem/sync/logs/{sync_type}?lines=20   the last entries of a profile's log

A run that is still going after ``run_timeout`` seconds (default 600) answers 202 with its ``job_id`` and goes on:
waiting never cancels it (``/unlock`` does). Errors are ``{"success": false, "error", "message"}`` with the HTTP
status of the error's kind: invalid_input 400, not_found 404, conflict 409, unavailable 503, anything else 500.
Needs the syncwright package and aiohttp (``pip install "aiohttp>=3.9"``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import re
import sys
from typing import Any, AsyncIterator, Awaitable, Callable, Dict, Iterator, List, Optional, Set, Union, cast

from aiohttp import web

import syncwright
from syncwright import AsyncEngine, Job, SyncReport
from syncwright.types import ProfileInfo, ProfileResult, UnlockReport

__all__ = ["PREFIX", "ROUTES_KEY", "SyncRoutes", "setup_routes", "make_app", "http_status", "main"]

log = logging.getLogger("comfyui_sync_extension")

#: Where document 1 puts the routes.
PREFIX = "/filesystem/sync"

#: The HTTP status of each error kind of syncwright; the other kinds are 500.
HTTP_STATUS_BY_KIND: Dict[str, int] = {"invalid_input": 400, "not_found": 404, "conflict": 409, "unavailable": 503}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def http_status(kind: str) -> int:
    """The HTTP status of an error of kind ``kind``."""
    return HTTP_STATUS_BY_KIND.get(kind, 500)


class HttpError(Exception):
    """An error answer: ``{"success": false, "error", "message", **extra}`` with HTTP status ``status``."""

    def __init__(self, status: int, error: str, message: str, **extra: Any) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.message = message
        self.extra = extra

    def response(self) -> web.Response:
        body: Dict[str, Any] = {"success": False, "error": self.error, "message": self.message, **self.extra}
        return web.json_response(body, status=self.status)


@contextlib.contextmanager
def failing(message: str) -> Iterator[None]:
    """Turn a syncwright error raised in the block into an :class:`HttpError` with ``message``."""
    try:
        yield
    except syncwright.SyncwrightError as err:
        raise HttpError(http_status(err.kind), err.message, message) from err


async def json_body(request: web.Request) -> Dict[str, Any]:
    """The request's JSON object; ``{}`` for an empty body."""
    if not request.body_exists:
        return {}
    text = await request.text()
    if not text.strip():
        return {}
    try:
        body = json.loads(text)
    except ValueError:
        raise HttpError(400, "the request body is not valid JSON", "Bad request: send a JSON object") from None
    if not isinstance(body, dict):
        raise HttpError(400, "the request body must be a JSON object", "Bad request: send a JSON object")
    return body


def sync_type_of(body: Dict[str, Any], *, required: bool) -> Optional[str]:
    """``body["sync_type"]``: a non-empty string, or None when absent and not required."""
    value = body.get("sync_type")
    if value is None or value == "":
        if required:
            raise HttpError(400, "sync_type is required", "Bad request: sync_type is required")
        return None
    if not isinstance(value, str):
        raise HttpError(400, "sync_type must be a string", "Bad request: sync_type must be a string")
    return value


def profile_line(profile: ProfileInfo) -> str:
    """``name: kind source -> destination`` (a command profile: ``name: command PROGRAM``, never its arguments)."""
    if profile["kind"] == "command":
        program = (profile["command"] or ["?"])[0]
        return f"{profile['name']}: command {program}"
    return f"{profile['name']}: {profile['kind']} {profile['source']} -> {profile['destination']}"


def unlock_text(report: UnlockReport) -> str:
    """What an unlock did, one line per lock removed, job cancelled and folder that could not be cleared."""
    lines: List[str] = []
    for lock in report["removed"]:
        job = f", job {lock['job_id']}" if lock["job_id"] else ""
        lines.append(f"removed {lock['name']} in {lock['location']} ({lock['reason']}{job})")
    lines.extend(f"cancelled job {job_id}" for job_id in report["cancelled_jobs"])
    lines.extend(f"error: {error}" for error in report["errors"])
    return "\n".join(lines) if lines else "no locks to remove"


def report_error(report: SyncReport) -> str:
    """Why a run did not complete: its fatal error, else its first file error, else its status."""
    if "fatal" in report:
        return report["fatal"]["error"]
    if report["errors"]:
        first = report["errors"][0]
        return f"{first['path']}: {first['error']}"
    return f"the sync ended with status {report['status']}"


def result_summary(result: ProfileResult) -> Dict[str, Any]:
    """One profile of a run-all: ``{success, status, output}`` (and ``error`` when it did not complete)."""
    if "status" not in result:  # it could not start: {kind, error}
        error = result["error"]
        return {"success": False, "status": "failed", "output": error, "error": error}
    report = cast(SyncReport, result)
    summary: Dict[str, Any] = {
        "success": report["status"] == "completed",
        "status": report["status"],
        "output": syncwright.report_text(report),
    }
    if not summary["success"]:
        summary["error"] = report_error(report)
    return summary


class SyncRoutes:
    """Document 1's routes over an :class:`~syncwright.AsyncEngine`.

    ``engine`` may be given later (:attr:`engine`, or :meth:`engine_context` opening it with the server); until
    then the routes answer 503. ``run_timeout`` is how long ``/run`` and ``/run_all`` wait for the report before
    answering 202 (the job goes on).
    """

    def __init__(
        self, engine: Optional[AsyncEngine] = None, *, run_timeout: float = 600.0, prefix: str = PREFIX
    ) -> None:
        self.engine = engine
        self.run_timeout = run_timeout
        self.prefix = prefix.rstrip("/")
        # Waits for reports that outlived their request: kept until their job ends.
        self._waiters: Set["asyncio.Future[SyncReport]"] = set()

    # -- mounting ------------------------------------------------------------------------------------------------

    def routes(self) -> List[tuple[str, str, Handler]]:
        """``(method, path, handler)`` of the seven routes."""
        p = self.prefix
        return [
            ("GET", f"{p}/status", self._guard(self.status)),
            ("POST", f"{p}/unlock", self._guard(self.unlock)),
            ("POST", f"{p}/test", self._guard(self.lock_test)),
            ("POST", f"{p}/run", self._guard(self.run)),
            ("POST", f"{p}/run_all", self._guard(self.run_all)),
            ("GET", f"{p}/list", self._guard(self.list_syncs)),
            ("GET", f"{p}/logs/{{sync_type}}", self._guard(self.logs)),
        ]

    def register(self, target: Union[web.Application, web.RouteTableDef]) -> None:
        """Mount the routes on an application (``PromptServer.instance.app``) or a route table
        (``PromptServer.instance.routes``, which ComfyUI adds to its app when it starts)."""
        for method, path, handler in self.routes():
            if isinstance(target, web.Application):
                target.router.add_route(method, path, handler)
            else:
                target.route(method, path)(handler)

    def engine_context(
        self, config_file: str, *, required: bool = True, **open_args: Any
    ) -> Callable[[web.Application], AsyncIterator[None]]:
        """For ``app.cleanup_ctx``: opens the engine of ``config_file`` (``open_args``: the other arguments of
        ``AsyncEngine.open``) when the app starts and closes it when the app stops (its running jobs are cancelled
        and clean up). When it cannot be opened, the app does not start; with ``required=False`` the error is
        logged and the routes answer 503 instead (ComfyUI starts without the sync manager)."""

        async def context(app: web.Application) -> AsyncIterator[None]:
            try:
                self.engine = await AsyncEngine.open(config_file=config_file, **open_args)
            except syncwright.SyncwrightError as err:
                if required:
                    raise
                log.error("sync manager not available: %s: %s", err.kind, err.message)
            try:
                yield
            finally:
                engine, self.engine = self.engine, None
                if engine is not None:
                    await engine.close()

        return context

    # -- helpers -------------------------------------------------------------------------------------------------

    def _guard(self, handler: Handler) -> Handler:
        """The handler with every failure answered as an error body (no traceback, no secret)."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except HttpError as err:
                return err.response()
            except syncwright.SyncwrightError as err:
                return HttpError(http_status(err.kind), err.message, "Sync manager request failed").response()
            except web.HTTPException:
                raise
            except Exception:  # a bug: logged here, never shown to the client
                log.exception("%s %s failed", request.method, request.path)
                return HttpError(500, "internal error", "Sync manager request failed").response()

        return guarded

    def _engine(self) -> AsyncEngine:
        if self.engine is None or self.engine.closed:
            raise HttpError(503, "the sync engine is not open", "Sync manager not available")
        return self.engine

    async def _wait(self, job: Job) -> Optional[SyncReport]:
        """The job's report if it ends within ``run_timeout``, else None; the job is never cancelled."""
        waiter = asyncio.ensure_future(job.wait_async())
        self._waiters.add(waiter)
        waiter.add_done_callback(self._waiters.discard)
        try:
            return await asyncio.wait_for(asyncio.shield(waiter), self.run_timeout)
        except asyncio.TimeoutError:
            return None

    # -- the routes ----------------------------------------------------------------------------------------------

    async def status(self, request: web.Request) -> web.Response:
        """GET /status: one summary line per profile (``profiles``: their status documents)."""
        with failing("Failed to retrieve sync status"):
            statuses = await self._engine().profiles_status()
        return web.json_response(
            {
                "success": True,
                "status": "retrieved",
                "output": "\n".join(s["summary"] for s in statuses),
                "profiles": statuses,
                "message": "Sync status retrieved successfully",
            }
        )

    async def unlock(self, request: web.Request) -> web.Response:
        """POST /unlock {sync_type?, force?}: a profile's locks, or every lock without ``sync_type``."""
        body = await json_body(request)
        name = sync_type_of(body, required=False)
        force = body.get("force", False)
        if not isinstance(force, bool):
            raise HttpError(400, "force must be true or false", "Bad request: force must be a boolean")
        what = f"{name} sync" if name is not None else "all sync"
        engine = self._engine()
        try:
            if name is not None:
                report = await engine.unlock_profile(name, force=force)
            else:
                report = await engine.unlock_all(force=force)
        except syncwright.ConflictError as err:  # a run elsewhere holds a lock with a fresh lease
            message = f"The {what} locks are held by a run elsewhere; send force: true to remove them anyway"
            raise HttpError(409, err.message, message) from err
        except syncwright.SyncwrightError as err:
            raise HttpError(http_status(err.kind), err.message, f"Failed to unlock {what} locks") from err
        answer: Dict[str, Any] = {
            "success": not report["errors"],
            "status": "unlocked" if not report["errors"] else "incomplete",
            "output": unlock_text(report),
            "cancelled_jobs": report["cancelled_jobs"],
        }
        if report["errors"]:
            answer["error"] = "; ".join(report["errors"])
            answer["message"] = f"Some {what} locks could not be removed"
        else:
            answer["message"] = f"Successfully unlocked {what} locks"
        return web.json_response(answer)

    async def lock_test(self, request: web.Request) -> web.Response:
        """POST /test {sync_type?}: take, refuse a second take, renew and release a test lock."""
        body = await json_body(request)
        name = sync_type_of(body, required=False) or "test_sync"
        with failing(f"Sync lock test failed for {name}"):
            result = await self._engine().lock_self_test(name)
        return web.json_response(
            {
                "success": True,
                "status": "test_passed",
                "output": "\n".join(result["steps"]),
                "message": f"Sync lock test passed for {result['name']}",
            }
        )

    async def run(self, request: web.Request) -> web.Response:
        """POST /run {sync_type}: run a profile; 200 with its report's text, or 202 while it still runs."""
        body = await json_body(request)
        name = sync_type_of(body, required=True)
        assert name is not None
        engine = self._engine()
        try:
            job = await engine.run_profile(name)
        except syncwright.ConflictError as err:
            details = err.details or {}
            raise HttpError(
                409,
                err.message,
                f"{name} sync is already running",
                running_job_id=details.get("job_id"),
                started_at=details.get("started_at"),
            ) from err
        except syncwright.NotFoundError as err:
            raise HttpError(404, err.message, f"Unknown sync type {name}") from err
        except syncwright.SyncwrightError as err:
            raise HttpError(http_status(err.kind), err.message, f"Failed to run {name} sync") from err
        report = await self._wait(job)
        if report is None:
            return web.json_response(
                {
                    "success": True,
                    "status": "running",
                    "sync_type": name,
                    "job_id": job.id,
                    "message": f"{name} sync is still running (job {job.id}); see /filesystem/sync/status",
                },
                status=202,
            )
        ok = report["status"] == "completed"
        answer: Dict[str, Any] = {
            "success": ok,
            "status": report["status"],
            "sync_type": name,
            "output": syncwright.report_text(report),
            "job_id": job.id,
        }
        if ok:
            answer["message"] = f"Successfully ran {name} sync"
        else:
            answer["error"] = report_error(report)
            answer["message"] = f"{name} sync ended with status {report['status']}"
        return web.json_response(answer)

    async def run_all(self, request: web.Request) -> web.Response:
        """POST /run_all: every profile in turn; per-profile results, or 202 while it still runs."""
        with failing("Failed to run all syncs"):
            job = await self._engine().run_all()
        report = await self._wait(job)
        if report is None:
            return web.json_response(
                {
                    "success": True,
                    "status": "running",
                    "job_id": job.id,
                    "message": f"Syncs are still running (job {job.id}); see /filesystem/sync/status",
                },
                status=202,
            )
        results = report.get("results", {})
        successful = report.get("successful", [])
        failed = report.get("failed", [])
        ok = report["status"] == "completed"
        answer: Dict[str, Any] = {
            "success": ok,
            "status": report["status"],
            "total_syncs": report.get("total", len(results)),
            "successful_syncs": successful,
            "failed_syncs": failed,
            "detailed_results": {name: result_summary(result) for name, result in results.items()},
            "output": syncwright.report_text(report),
            "job_id": job.id,
        }
        if ok:
            answer["message"] = "All syncs completed successfully"
        elif failed:
            answer["error"] = f"failed: {', '.join(failed)}"
            answer["message"] = f"{len(failed)} of {answer['total_syncs']} syncs failed"
        else:
            answer["error"] = f"the syncs ended with status {report['status']}"
            answer["message"] = f"Syncs ended with status {report['status']}"
        return web.json_response(answer)

    async def list_syncs(self, request: web.Request) -> web.Response:
        """GET /list: the profiles, one line each."""
        with failing("Failed to retrieve sync scripts list"):
            profiles = await self._engine().profiles()
        return web.json_response(
            {
                "success": True,
                "status": "retrieved",
                "output": "\n".join(profile_line(p) for p in profiles),
                "available_syncs": [p["name"] for p in profiles],
                "message": "Successfully retrieved sync scripts list",
            }
        )

    async def logs(self, request: web.Request) -> web.Response:
        """GET /logs/{sync_type}?lines=20: the last entries of the profile's log, oldest first."""
        name = request.match_info["sync_type"]
        raw = request.query.get("lines", "20")
        if not re.fullmatch(r"[0-9]{1,9}", raw) or int(raw) < 1:
            raise HttpError(400, "lines must be a positive integer", "Bad request: lines must be a positive integer")
        lines = int(raw)
        with failing(f"Failed to retrieve {name} logs"):
            entries = await self._engine().profile_log_tail(name, lines=lines)
        return web.json_response(
            {
                "success": True,
                "status": "retrieved",
                "sync_type": name,
                "lines_requested": lines,
                "output": "\n".join(f"{e['timestamp']} {e['level']} {e['message']}" for e in entries),
                "message": f"Successfully retrieved {name} logs",
            }
        )


def setup_routes(
    app_or_routes: Union[web.Application, web.RouteTableDef],
    engine: Optional[AsyncEngine],
    *,
    run_timeout: float = 600.0,
) -> SyncRoutes:
    """Mount the seven routes over ``engine`` on an app or a route table; returns them (``run_timeout``,
    ``engine`` can be changed later)."""
    routes = SyncRoutes(engine, run_timeout=run_timeout)
    routes.register(app_or_routes)
    return routes


#: The :class:`SyncRoutes` of an app built by :func:`make_app`.
ROUTES_KEY = web.AppKey("syncwright_sync_routes", SyncRoutes)


def make_app(config_file: str, *, run_timeout: float = 600.0) -> web.Application:
    """A standalone app: the routes, with the engine of ``config_file`` open while the app runs."""
    app = web.Application()
    routes = SyncRoutes(run_timeout=run_timeout)
    routes.register(app)
    app.cleanup_ctx.append(routes.engine_context(config_file))
    app[ROUTES_KEY] = routes
    return app


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Document 1's sync manager API over syncwright, standalone.")
    parser.add_argument("--config", required=True, help="the syncwright TOML config (profiles and settings)")
    parser.add_argument("--port", type=int, default=8188)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--run-timeout", type=float, default=600.0, help="seconds /run waits before answering 202")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    web.run_app(make_app(args.config, run_timeout=args.run_timeout), host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
