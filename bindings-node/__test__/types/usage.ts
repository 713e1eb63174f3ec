// Type-checked by __test__/engine.test.js (tsc -p __test__/types): the typings of index.d.ts as users write them.
import {
  Engine,
  Job,
  Subscription,
  buildManifest,
  errorKinds,
  reportText,
  statusOutcome,
  version,
  type BreakerSettings,
  type BreakerStatus,
  type Config,
  type JobSnapshot,
  type LockSelfTest,
  type LogEntry,
  type LogPage,
  type Operation,
  type ProfileInfo,
  type ProfileStatus,
  type RecoveryMetrics,
  type RunPage,
  type ScenarioInfo,
  type SelfTestReport,
  type StorageUsage,
  type UnlockReport,
  type ErrorKind,
  type EventFilter,
  type ManifestResult,
  type Plan,
  type ProgressSnapshot,
  type SyncEvent,
  type SyncOptions,
  type SyncReport,
  type SyncwrightError,
} from '../../index'

async function main(): Promise<number> {
  const v: string = version()
  const kinds: ErrorKind[] = errorKinds()
  const engine = new Engine({ stateDir: '/tmp/state', noStore: false })
  new Engine({ state_dir: '/tmp/state', worker_threads: 2 })
  new Engine()

  const m: ManifestResult = await buildManifest('/data', { exclude: ['*.tmp'], stateDir: '/tmp/state' })
  const firstSha: string | undefined = m.manifest.entries[0]?.hashes?.sha256

  const options: SyncOptions = { delete: true, max_delete: 10, compare: 'checksum', bwlimit: null }
  const camel: SyncOptions = { maxDelete: 10, dryRun: true, progressIntervalMs: 50 }
  const plan: Plan = await engine.plan('/a', '/b', options)
  const copies = plan.actions.filter((a) => a.op === 'copy' && a.reason === 'new').length

  const job: Job = await engine.start('/a', '/b', camel, (p: ProgressSnapshot) => {
    const line: string = `${p.percent.toFixed(1)}% ${p.stage} ${p.current_file ?? ''}`
    void line
  })
  const id: string = job.id
  const now: ProgressSnapshot = job.progress()
  const maybe: SyncReport | null = await job.wait(0)
  job.cancel()
  const report = await job.wait()
  if (report === null) throw new Error('no timeout was given')
  const status: 'completed' | 'partial' | 'failed' | 'cancelled' | string = report.status
  const fatalKind: ErrorKind | undefined = report.fatal?.kind
  const text: string | null = job.reportJson()

  const direct: SyncReport = await engine.sync('/a', '/b')
  const bytes: number = direct.stats.bytes_transferred

  const sub: Subscription = engine.subscribe()
  for await (const ev of sub) {
    const e: SyncEvent = ev
    if (e.type === 'job_finished') {
      const s: string = e.status
      void s
      break
    }
    if (e.type === 'progress') void e.progress.percent
  }
  const filter: EventFilter = { profile: 'user_data', types: ['job_finished', 'log'] }
  const resumed: Subscription = engine.subscribe({ since: 0, filter })
  for await (const ev of resumed) {
    const seq: number = ev.seq
    if (ev.type === 'log') void ev.log.message
    void seq
    break
  }
  const polled: SyncEvent | null = sub.tryNext()
  const lost: number = sub.lost
  sub.close()

  try {
    await engine.sync('/missing', '/b')
  } catch (err) {
    const e = err as SyncwrightError
    if (e.code === 'not_found') return 2
  }

  // @ts-expect-error unknown option names are type errors (and invalid_input at run time)
  engine.start('/a', '/b', { no_such_option: 1 })
  // @ts-expect-error compare takes one of three names
  engine.start('/a', '/b', { compare: 'fast' })
  // @ts-expect-error the progress callback receives a snapshot, not a string
  engine.start('/a', '/b', {}, (p: string) => p)

  // The whole front door: every call resolves to a typed document or a Job.
  const opened: Engine = await Engine.open({ configFile: '/etc/syncwright.toml', config: null })
  const profiles: ProfileInfo[] = await opened.profiles()
  const st: ProfileStatus = await opened.profileStatus('user_data')
  const state: 'running' | 'success' | 'error' | 'idle' = st.state
  const all: ProfileStatus[] = await opened.profilesStatus()
  const run: Job = await opened.runProfile('user_data', (p) => void p.percent)
  run.on('error', (e: Error) => void e.message)
  const runAll: Job = await opened.runAll()
  const unlocked: UnlockReport = await opened.unlockProfile('user_data', { force: true })
  const unlockedAll: UnlockReport = await opened.unlockAll()
  const selfTest: LockSelfTest = await opened.lockSelfTest()
  const again: Job = await opened.job(run.id)
  const snap: JobSnapshot = again.snapshot(true)
  const active: JobSnapshot[] = await opened.activeJobs()
  const recent: JobSnapshot[] = await opened.recentJobs(10)
  const history: RunPage = await opened.runHistory('user_data', { page: 1, perPage: 20 })
  const tail: LogEntry[] = await opened.profileLogTail('user_data', { lines: 50, level: 'error' })
  const page: LogPage = await opened.profileLogPage('user_data', { page: 2 })
  const usage: StorageUsage = await opened.storageUsage({ modelsRoot: '/models' })
  const ops: Operation[] = await opened.operations({ activeOnly: true })
  const op: Operation = await opened.operation(run.id)
  const interrupted: Operation[] = await opened.interruptedOperations()
  const cancelled: Operation = await opened.cancelOperation(run.id)
  const retried: Job = await opened.retryOperation(run.id, { force: true, maxAttempts: 2 })
  const metrics: RecoveryMetrics = await opened.recoveryMetrics()
  const scenarios: ScenarioInfo[] = await opened.recoveryScenarios()
  const tested: SelfTestReport = await opened.recoverySelfTest({ scenarios: ['network_timeout'], runs: 1 })
  const breakers: BreakerStatus[] = await opened.breakers()
  const breakerSettings: BreakerSettings = await opened.breakerSettings()
  const config: Config = await opened.config()
  const outcome: 'success' | 'running' | 'error' | null = statusOutcome('completed')
  const output: string = reportText(direct)
  await opened.close()
  void [profiles, state, all, runAll, unlocked, unlockedAll, selfTest, snap, active, recent, history, tail, page]
  void [usage, ops, op, interrupted, cancelled, retried, metrics, scenarios, tested, breakers, breakerSettings]
  void [config, outcome, output]

  await engine.close()
  const closed: boolean = engine.closed
  void [v, kinds, firstSha, copies, id, now, maybe, status, fatalKind, text, bytes, polled, lost, closed]
  return 0
}

void main
