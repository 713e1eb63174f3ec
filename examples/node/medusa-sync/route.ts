// Document 5's manual sync API (POST /admin/sync/trigger, GET /admin/sync/status) as a Medusa-style route module
// on syncwright. It keeps no sync state of its own: a trigger starts the profile on the engine, the status is the
// engine's (`profileStatus`), so a run started elsewhere (the CLI, another process sharing the coordination folder)
// shows up here too, and two triggers can never run the profile twice.
//
// In a Medusa project, `import type` from 'syncwright' instead, and wire the engine once at startup:
//
//   import { Engine } from 'syncwright'
//   setSyncEngine(await Engine.open({ configFile: '/etc/syncwright.toml' }), 'products')
//
// then `export { POST } from ...` in src/api/admin/sync/trigger/route.ts and `export { GET } from ...` in
// src/api/admin/sync/status/route.ts (see README.md).

import type { Engine, ProfileStatus, SyncwrightError } from '../../../bindings-node'

// ---------------------------------------------------------------------------------------------------------------
// Medusa's request and response, as far as these routes use them (@medusajs/framework/http is not installed here).
// ---------------------------------------------------------------------------------------------------------------

export interface MedusaRequest<Body = unknown> {
  body: Body
}

export interface MedusaResponse {
  status(code: number): MedusaResponse
  json(body: unknown): void
}

export type RouteHandler = (req: MedusaRequest, res: MedusaResponse) => Promise<void>

// ---------------------------------------------------------------------------------------------------------------
// Document 5's bodies.
// ---------------------------------------------------------------------------------------------------------------

export interface ErrorBody {
  status: 'error'
  message: string
  data?: { startedAt: string | null }
}

export interface TriggerBody {
  status: 'success'
  message: 'Sync job triggered successfully'
  data: { startedAt: string; checkStatusAt: string }
}

export interface StatusData {
  isRunning: boolean
  /** When the running job started, else when the last run started, else null (ISO 8601, UTC, milliseconds). */
  lastRun: string | null
  lastStatus: ProfileStatus['state']
  lastError: string | null
  /** The last run's wall time in seconds. */
  lastDuration: number | null
  stats: { created: number; updated: number; errors: number }
}

export interface StatusBody {
  status: 'success'
  data: StatusData
}

/** Where a caller logs (Medusa's logger, `console`, ...). */
export interface SyncLogger {
  info(message: string): void
  error(message: string): void
}

export interface SyncRouteOptions {
  /** Logs when a triggered run ends. Default: nothing is logged. */
  logger?: SyncLogger
  /** The path the trigger's `checkStatusAt` names. Default `/admin/sync/status`. */
  statusPath?: string
}

export interface SyncRoutes {
  /** POST /admin/sync/trigger */
  trigger: RouteHandler
  /** GET /admin/sync/status */
  status: RouteHandler
}

/** Core's RFC 3339 times (nanoseconds, any offset) as document 5's `2026-01-07T13:33:12.000Z`. */
export function isoTime(rfc3339: string): string
export function isoTime(rfc3339: string | null | undefined): string | null
export function isoTime(rfc3339: string | null | undefined): string | null {
  return typeof rfc3339 === 'string' ? new Date(rfc3339).toISOString() : null
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

function isConflict(err: unknown): err is SyncwrightError {
  return err instanceof Error && (err as SyncwrightError).code === 'conflict'
}

/**
 * Document 5's status data of a profile status. `runningSince` is when the running job started, if known better
 * than by its lock (see `jobStartedAt`).
 */
export function statusData(st: ProfileStatus, runningSince?: string | null): StatusData {
  const last = st.last_run
  const started = st.running && st.job ? (runningSince ?? st.job.started_at) : (last?.started_at ?? null)
  return {
    isRunning: st.running,
    lastRun: isoTime(started),
    lastStatus: st.state,
    lastError: last?.error ?? null,
    lastDuration: last?.duration_ms != null ? last.duration_ms / 1000 : null,
    stats: {
      created: last?.stats?.created ?? 0,
      updated: last?.stats?.updated ?? 0,
      errors: last?.stats?.errors ?? 0,
    },
  }
}

/** The two handlers of document 5 for profile `profile` of `engine`. */
export function syncRoutes(engine: Engine, profile: string, options: SyncRouteOptions = {}): SyncRoutes {
  const { logger, statusPath = '/admin/sync/status' } = options

  // A profile lock's `started_at` is when the lock was taken, a moment after the job's own `started_at` (the one
  // the trigger answers with, and the history keeps as the run's start). So that the 409, the running status and
  // the finished status all name the trigger's time, a job of this engine is asked for its start; the lock's time
  // stands for runs of other processes (and jobs this engine no longer knows).
  async function jobStartedAt(jobId: unknown, lockStartedAt: unknown): Promise<string | null> {
    const fallback = typeof lockStartedAt === 'string' ? lockStartedAt : null
    if (typeof jobId !== 'string') return fallback
    try {
      return (await engine.job(jobId)).snapshot().started_at
    } catch {
      return fallback
    }
  }

  const trigger: RouteHandler = async (_req, res) => {
    let job
    try {
      job = await engine.runProfile(profile)
    } catch (err) {
      if (isConflict(err)) {
        const startedAt = await jobStartedAt(err.details?.job_id, err.details?.started_at)
        const body: ErrorBody = {
          status: 'error',
          message: 'Sync job is already running',
          data: { startedAt: isoTime(startedAt) },
        }
        res.status(409).json(body)
        return
      }
      const body: ErrorBody = { status: 'error', message: message(err) }
      res.status(500).json(body)
      return
    }
    // The run goes on in the engine; only the log line waits for it.
    if (logger) {
      job.wait().then(
        (report) => {
          if (report?.status === 'completed') logger.info(`Manual sync of ${profile} completed successfully`)
          else logger.error(`Manual sync of ${profile} ended ${report?.status}${report?.fatal ? `: ${report.fatal.error}` : ''}`)
        },
        (err: unknown) => logger.error(`Manual sync of ${profile} failed: ${message(err)}`),
      )
    }
    const body: TriggerBody = {
      status: 'success',
      message: 'Sync job triggered successfully',
      data: { startedAt: isoTime(job.snapshot().started_at), checkStatusAt: statusPath },
    }
    res.status(200).json(body)
  }

  const status: RouteHandler = async (_req, res) => {
    try {
      const st = await engine.profileStatus(profile)
      const since = st.running && st.job?.this_engine ? await jobStartedAt(st.job.job_id, st.job.started_at) : null
      const body: StatusBody = { status: 'success', data: statusData(st, since) }
      res.status(200).json(body)
    } catch (err) {
      const body: ErrorBody = { status: 'error', message: message(err) }
      res.status(500).json(body)
    }
  }

  return { trigger, status }
}

// ---------------------------------------------------------------------------------------------------------------
// Medusa's shape: `export const POST` / `export const GET`, served from the engine given once at startup.
// ---------------------------------------------------------------------------------------------------------------

let configured: SyncRoutes | null = null

/** Sets the engine and profile `POST` and `GET` serve (call it once at startup, before the first request). */
export function setSyncEngine(engine: Engine, profile: string, options?: SyncRouteOptions): void {
  configured = syncRoutes(engine, profile, options)
}

function notConfigured(res: MedusaResponse): void {
  const body: ErrorBody = { status: 'error', message: 'syncwright engine not configured: call setSyncEngine() at startup' }
  res.status(500).json(body)
}

/** POST /admin/sync/trigger */
export const POST: RouteHandler = async (req, res) => (configured ? configured.trigger(req, res) : notConfigured(res))

/** GET /admin/sync/status */
export const GET: RouteHandler = async (req, res) => (configured ? configured.status(req, res) : notConfigured(res))
