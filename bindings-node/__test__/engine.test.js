// Tests of the Node front door: Engine, Job, progress callback, subscription, errors, typings.
// Real files in os.tmpdir(); synchronisation by events and promises only (no sleeps), no timing asserts.
'use strict'

const { test } = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')

// Keep syncwright's state store out of the user's home during tests.
const STATE_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'syncwright-state-'))
process.env.SYNCWRIGHT_STATE_DIR = STATE_DIR

const sw = require('..')
const { Engine } = sw

function tempDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'syncwright-node-'))
}

/** Writes `files` ({ relative path: content }) under a new temporary folder and returns it. */
function makeTree(files) {
  const root = tempDir()
  for (const [rel, content] of Object.entries(files)) {
    const p = path.join(root, rel)
    fs.mkdirSync(path.dirname(p), { recursive: true })
    fs.writeFileSync(p, content)
  }
  return root
}

/** Every file under `root` as { relative path: Buffer }, leaving out syncwright's own `.syncwright` folder. */
function readTree(root) {
  const out = {}
  for (const rel of fs.readdirSync(root, { recursive: true })) {
    const p = path.join(root, rel)
    if (rel.split(path.sep)[0] === '.syncwright' || !fs.statSync(p).isFile()) continue
    out[rel.split(path.sep).join('/')] = fs.readFileSync(p)
  }
  return out
}

const SMALL = {
  'a.txt': 'hello\n',
  'empty.bin': Buffer.alloc(0),
  'sub/b.bin': crypto.randomBytes(70000),
  'sub/deeper/c.json': '{"x": 1}',
  'ünïcode name.txt': 'ü',
}

/** A source that takes long to copy under a 64 KiB/s limit: 3 files of 1 MiB. */
function slowSource() {
  return makeTree({ 'big/1.bin': crypto.randomBytes(1 << 20), 'big/2.bin': crypto.randomBytes(1 << 20), 'big/3.bin': crypto.randomBytes(1 << 20) })
}
const SLOW = { bwlimit: 65536, chunk_size: 16384 }

function newEngine() {
  return new Engine({ stateDir: STATE_DIR })
}

/** Asserts that `promise` rejects (or `fn` throws) with an Error whose code and kind are `code`. */
function isSwError(code) {
  return (e) => {
    assert.ok(e instanceof Error, `not an Error: ${e}`)
    assert.equal(e.code, code, `${e.code}: ${e.message}`)
    assert.equal(e.kind, code)
    return true
  }
}

test('sync copies a small tree byte for byte and reports it; a rerun copies nothing', async () => {
  const engine = newEngine()
  const src = makeTree(SMALL)
  const dst = path.join(tempDir(), 'dst')
  const report = await engine.sync(src, dst)
  assert.equal(report.status, 'completed')
  assert.equal(report.dry_run, false)
  assert.ok(report.schema_version >= 1)
  assert.match(report.run_id, /^[0-9a-f-]{36}$/)
  assert.equal(report.stats.created, Object.keys(SMALL).length)
  assert.equal(report.stats.errors, 0)
  assert.equal(report.stats.bytes_transferred, Object.values(SMALL).reduce((n, c) => n + Buffer.byteLength(c), 0))
  assert.deepEqual(report.errors, [])
  assert.equal(report.fatal, undefined)
  assert.deepEqual(readTree(dst), readTree(src))

  const again = await engine.sync(src, dst)
  assert.equal(again.status, 'completed')
  assert.equal(again.stats.created, 0)
  assert.equal(again.stats.updated, 0)
  assert.equal(again.stats.bytes_transferred, 0)
  assert.equal(again.stats.unchanged, Object.keys(SMALL).length)
  engine.close()
})

test('the report is core\'s JSON parsed as is: reportJson() is the exact text, in the same key order', async () => {
  const engine = newEngine()
  const job = await engine.start(makeTree(SMALL), path.join(tempDir(), 'dst'))
  assert.equal(job.report(), null)
  assert.equal(job.reportJson(), null)
  const report = await job.wait()
  const text = job.reportJson()
  assert.equal(typeof text, 'string')
  assert.ok(!text.includes('\n'))
  assert.deepEqual(report, JSON.parse(text))
  assert.equal(JSON.stringify(report), text)
  assert.deepEqual(job.report(), report)
  assert.deepEqual(Object.keys(report).slice(0, 4), ['schema_version', 'type', 'run_id', 'status'])
  assert.equal(report.type, 'sync')
})

test('plan lists what a sync would do and writes nothing', async () => {
  const engine = newEngine()
  const src = makeTree(SMALL)
  const dst = path.join(tempDir(), 'dst')
  const plan = await engine.plan(src, dst)
  assert.ok(plan.schema_version >= 1)
  assert.equal(plan.compare, 'size_mtime')
  const copies = plan.actions.filter((a) => a.op === 'copy')
  assert.deepEqual(copies.map((a) => a.path).sort(), Object.keys(SMALL).sort())
  assert.ok(copies.every((a) => a.reason === 'new'))
  assert.equal(plan.totals.copy_files, Object.keys(SMALL).length)
  assert.equal(fs.existsSync(dst), false)

  await engine.sync(src, dst)
  fs.writeFileSync(path.join(src, 'a.txt'), 'hello, longer\n')
  const { actions } = await engine.plan(src, dst, { compare: 'checksum' })
  assert.deepEqual(
    actions.filter((a) => a.op === 'copy').map((a) => [a.path, a.reason]),
    [['a.txt', 'size_changed']],
  )
})

test('a dry run resolves to a report that carries the plan', async () => {
  const engine = newEngine()
  const dst = path.join(tempDir(), 'dst')
  const report = await engine.sync(makeTree(SMALL), dst, { dry_run: true })
  assert.equal(report.dry_run, true)
  assert.equal(report.plan.totals.copy_files, Object.keys(SMALL).length)
  assert.equal(fs.existsSync(dst), false)
})

test('the progress callback runs on the JavaScript thread and sees the last snapshot before wait() resolves', async () => {
  const engine = newEngine()
  const snapshots = []
  const job = await engine.start(makeTree(SMALL), path.join(tempDir(), 'dst'), { progress_interval_ms: 10 }, (s) => {
    snapshots.push(s)
  })
  const report = await job.wait()
  assert.equal(report.status, 'completed')
  assert.equal(job.status, 'completed')
  assert.ok(snapshots.length >= 1)
  const last = snapshots.at(-1)
  assert.equal(last.stage, 'done')
  assert.equal(last.percent, 100)
  assert.equal(last.files_done, last.files_total)
  for (const s of snapshots) assert.equal(typeof s.percent, 'number')
  assert.equal(job.progress().stage, 'done')

  // sync() waits for the last snapshot too.
  const seen = []
  await engine.sync(makeTree(SMALL), path.join(tempDir(), 'dst'), {}, (s) => seen.push(s.stage))
  assert.equal(seen.at(-1), 'done')
})

test('cancelling a slow job stops it with status cancelled and leaves no temporary file', async () => {
  const engine = newEngine()
  const dst = path.join(tempDir(), 'dst')
  let moved
  const moving = new Promise((resolve) => (moved = resolve))
  const job = await engine.start(slowSource(), dst, SLOW, (s) => {
    if (s.bytes_done > 0) moved(s)
  })
  assert.equal(job.status, 'running')
  assert.equal((await moving).stage, 'transferring')
  job.cancel()
  const report = await job.wait()
  assert.equal(report.status, 'cancelled')
  assert.equal(job.status, 'cancelled')
  const leftovers = fs.readdirSync(dst, { recursive: true }).filter((p) => p.includes('.swtmp-'))
  assert.deepEqual(leftovers, [])
  job.cancel() // a finished job ignores cancel
})

test('wait(0) on a running job resolves to null; wait() after cancel resolves to the report', async () => {
  const engine = newEngine()
  const job = await engine.start(slowSource(), path.join(tempDir(), 'dst'), SLOW)
  assert.equal(await job.wait(0), null)
  assert.equal(await job.wait(1), null)
  assert.equal(job.status, 'running')
  assert.equal(job.report(), null)
  const p = job.progress()
  assert.equal(typeof p.bytes_total, 'number')
  job.cancel()
  const [a, b] = await Promise.all([job.wait(), job.wait(Infinity)])
  assert.equal(a.status, 'cancelled')
  assert.deepEqual(a, b)
  assert.deepEqual(await job.wait(0), a)
  assert.deepEqual(await job.wait(-1), a) // negative: no limit, as in C and Python
  assert.throws(() => job.wait(NaN), isSwError('invalid_input'))
  assert.throws(() => job.wait('soon'), isSwError('invalid_input'))
})

test('options: core rejects unknown names with invalid_input; camelCase keys are converted', async () => {
  const engine = newEngine()
  const src = makeTree(SMALL)
  const dst = path.join(tempDir(), 'dst')
  // Options are checked at once (parsing them is no I/O).
  assert.throws(() => engine.sync(src, dst, { no_such_option: 1 }), isSwError('invalid_input'))
  assert.throws(() => engine.plan(src, dst, { compare: 'bogus' }), isSwError('invalid_input'))
  assert.throws(() => engine.sync(src, dst, { transfers: 0 }), isSwError('invalid_input'))
  assert.throws(() => engine.start(src, dst, { noSuchOption: true }), isSwError('invalid_input'))
  assert.throws(() => engine.start(src, dst, { maxDelete: 1, max_delete: 2 }), isSwError('invalid_input'))
  // Argument types are checked at once.
  assert.throws(() => engine.sync(src, dst, [1]), isSwError('invalid_input'))
  assert.throws(() => engine.sync(src, dst, 'delete'), isSwError('invalid_input'))
  assert.throws(() => engine.sync(42, dst), isSwError('invalid_input'))
  assert.throws(() => engine.start(src, dst, {}, 'not a function'), isSwError('invalid_input'))
  assert.throws(() => engine.plan(src, undefined), isSwError('invalid_input'))
  // An unsupported location is refused by core (on the engine's threads: the promise rejects).
  await assert.rejects(engine.start('gopher://host/x', dst), isSwError('invalid_input'))

  // camelCase and snake_case are the same options; undefined members are absent.
  const report = await engine.sync(src, dst, { dryRun: true, listIdentical: true, maxDelete: undefined })
  assert.equal(report.dry_run, true)
  await engine.sync(src, dst)
  fs.rmSync(path.join(src, 'a.txt'))
  const mirrored = await engine.sync(src, dst, { delete: true, maxDelete: 5, progressIntervalMs: 50 })
  assert.equal(mirrored.stats.deleted, 1)
  assert.equal(fs.existsSync(path.join(dst, 'a.txt')), false)
})

test('a missing source gives a failed report with fatal.kind not_found', async () => {
  const engine = newEngine()
  const missing = path.join(tempDir(), 'does-not-exist')
  const report = await engine.sync(missing, path.join(tempDir(), 'dst'))
  assert.equal(report.status, 'failed')
  assert.equal(report.fatal.kind, 'not_found')
  assert.equal(typeof report.fatal.error, 'string')
  await assert.rejects(engine.plan(missing, tempDir()), isSwError('not_found'))
})

test('a destination another run holds fails the second run with details naming the holder', async () => {
  const engine = newEngine()
  const src = slowSource()
  const dst = path.join(tempDir(), 'dst')
  let moved
  const moving = new Promise((resolve) => (moved = resolve))
  const first = await engine.start(src, dst, SLOW, (s) => {
    if (s.bytes_done > 0) moved(s)
  })
  await moving
  const report = await engine.sync(src, dst)
  assert.equal(report.status, 'failed')
  assert.equal(report.fatal.kind, 'conflict')
  assert.equal(report.fatal.details.job_id, first.id)
  assert.equal(report.fatal.details.pid, process.pid)
  first.cancel()
  assert.equal((await first.wait()).status, 'cancelled')
})

/** A loopback port nothing listens on (connections to it are refused). */
function closedPort() {
  const net = require('node:net')
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

test('an open circuit breaker rejects with its target and retry-after in details', async () => {
  const engine = newEngine()
  const port = await closedPort()
  const src = `sftp://tester@127.0.0.1:${port}/data`
  const dst = path.join(tempDir(), 'dst')
  // The default breaker opens after 5 failures of the link in a row.
  for (let i = 0; i < 5; i++) {
    await assert.rejects(engine.plan(src, dst, { maxAttempts: 1 }), (e) => {
      assert.equal(e.code, 'network', e.message)
      assert.equal(e.details, undefined)
      return true
    })
  }
  await assert.rejects(engine.plan(src, dst, { maxAttempts: 1 }), (e) => {
    assert.equal(e.code, 'unavailable', e.message)
    assert.equal(e.details.target, `sftp://tester@127.0.0.1:${port}`)
    assert.equal(e.details.state, 'open')
    assert.equal(e.details.consecutive_failures, 5)
    assert.ok(e.details.retry_after_secs > 0 && e.details.retry_after_secs <= 30, JSON.stringify(e.details))
    return true
  })
  // Breakers are the engine's settings, not sync options.
  assert.throws(() => engine.plan(src, dst, { breaker: { failure_threshold: 1 } }), (e) => {
    assert.equal(e.code, 'invalid_input')
    assert.match(e.message, /\[settings\.breaker\]/)
    return true
  })
  engine.close()
})

test('a subscription sees job_queued, job_started, progress and job_finished in order', async () => {
  const engine = newEngine()
  const sub = engine.subscribe()
  const job = await engine.start(makeTree(SMALL), path.join(tempDir(), 'dst'), { progress_interval_ms: 10 })
  const LIFECYCLE = ['job_queued', 'job_started', 'progress', 'job_finished']
  const events = []
  for await (const event of sub) {
    if (event.job_id !== job.id || !LIFECYCLE.includes(event.type)) continue // other kinds: locks, logs
    events.push(event)
    if (event.type === 'job_finished') break
  }
  const report = await job.wait()
  const types = events.map((e) => e.type)
  assert.deepEqual(types.slice(0, 2), ['job_queued', 'job_started'])
  assert.equal(types.at(-1), 'job_finished')
  assert.ok(types.slice(2, -1).every((t) => t === 'progress'), types.join(' '))
  assert.ok(types.includes('progress'))
  const finished = events.at(-1)
  assert.equal(finished.status, report.status)
  assert.deepEqual(finished.stats, report.stats)
  assert.equal(events[0].destination.endsWith('dst'), true)
  assert.equal(events.filter((e) => e.type === 'progress').at(-1).progress.stage, 'done')
  assert.equal(sub.lost, 0)
  // `break` closed it: further iteration ends at once.
  for await (const e of sub) assert.fail(`unexpected event ${e.type}`)
})

test('tryNext reads without waiting; close() and engine.close() end a pending iteration', async () => {
  const engine = newEngine()
  const sub = engine.subscribe()
  assert.equal(sub.tryNext(), null)
  await engine.sync(makeTree({ x: 'x' }), path.join(tempDir(), 'dst'))
  const first = sub.tryNext()
  assert.equal(first.type, 'job_queued')
  sub.close()
  assert.equal((await sub[Symbol.asyncIterator]().next()).done, false) // queued events stay readable
  const it = engine.subscribe()[Symbol.asyncIterator]()
  const pending = it.next()
  engine.close()
  assert.deepEqual(await pending, { value: undefined, done: true })
})

test('subscribe({ since, filter }) replays the kept events, then follows live; a since beyond the latest rejects', async () => {
  const engine = new Engine({ stateDir: tempDir() })
  const src = makeTree(SMALL)
  const job = await engine.start(src, path.join(tempDir(), 'dst'))
  await job.wait()
  // Everything kept, numbered from 1 (a fresh state directory), up to the job's end.
  const kept = []
  for await (const e of engine.subscribe({ since: 0 })) {
    kept.push(e)
    if (e.type === 'job_finished') break
  }
  assert.deepEqual(
    kept.map((e) => e.seq),
    kept.map((_, i) => i + 1)
  )
  assert.equal(kept[0].type, 'job_queued')
  const latest = kept.at(-1).seq
  // From the middle, filtered (camelCase keys work too): just the job's end.
  const ended = engine.subscribe({ since: 1, filter: { jobId: job.id, types: ['job_finished'] } })
  const first = await ended[Symbol.asyncIterator]().next()
  assert.equal(first.value.type, 'job_finished')
  assert.equal(first.value.seq, latest)
  assert.equal(ended.tryNext(), null)
  ended.close()
  // Live only, filtered: the next job's queued event, numbered after the others.
  const live = engine.subscribe({ filter: { types: ['job_queued'] } })
  const job2 = await engine.start(src, path.join(tempDir(), 'dst2'))
  const queued = await live[Symbol.asyncIterator]().next()
  assert.equal(queued.value.job_id, job2.id)
  assert.equal(queued.value.seq > latest, true)
  live.close()
  await job2.wait()
  // A since beyond the latest: the first next() rejects with invalid_input, then the iteration ends.
  const beyond = engine.subscribe({ since: 1e9 })[Symbol.asyncIterator]()
  await assert.rejects(beyond.next(), isSwError('invalid_input'))
  assert.deepEqual(await beyond.next(), { value: undefined, done: true })
  // Bad options throw at once.
  for (const bad of [{ since: -1 }, { since: 1.5 }, { since: '3' }, { filter: { types: ['job_done'] } }, { sinse: 1 }, { filter: [] }]) {
    assert.throws(() => engine.subscribe(bad), isSwError('invalid_input'), JSON.stringify(bad))
  }
  engine.close()
})

test('the event loop runs while a sync is under way', async () => {
  const engine = newEngine()
  const order = []
  const job = await engine.start(slowSource(), path.join(tempDir(), 'dst'), SLOW)
  const syncing = job.wait().then((r) => {
    order.push('sync resolved')
    return r
  })
  // If the sync held the JavaScript thread, this could only run after it ended, and the job would complete.
  setImmediate(() => {
    order.push('immediate')
    job.cancel()
  })
  const report = await syncing
  assert.deepEqual(order, ['immediate', 'sync resolved'])
  assert.equal(report.status, 'cancelled')
})

test('engine config: camelCase or snake_case, unknown fields are invalid_input, a closed engine refuses calls', async () => {
  assert.throws(() => new Engine({ bogus: 1 }), isSwError('invalid_input'))
  assert.throws(() => new Engine({ no_store: 'yes' }), isSwError('invalid_input'))
  assert.throws(() => new Engine(5), isSwError('invalid_input'))
  const e1 = new Engine({ noStore: true, workerThreads: 1 })
  const r = await e1.sync(makeTree(SMALL), path.join(tempDir(), 'dst'))
  assert.equal(r.status, 'completed')
  const e2 = new Engine({ state_dir: STATE_DIR, worker_threads: 2 })
  const e3 = new Engine()
  assert.equal(e2.closed, false)
  await Promise.all([e2.close(), e2.close()])
  assert.equal(e2.closed, true)
  assert.throws(() => e2.subscribe(), isSwError('invalid_input'))
  assert.throws(() => e2.start('a', 'b'), isSwError('invalid_input'))
  await e3.close()
  await e1.close()
  // An engine whose opening fails: the constructor returns, every call rejects with the error; open() rejects.
  const broken = new Engine({ configFile: path.join(tempDir(), 'missing.toml') })
  await assert.rejects(broken.profiles(), isSwError('not_found'))
  await assert.rejects(Engine.open({ configFile: path.join(tempDir(), 'missing.toml') }), isSwError('not_found'))
  await broken.close()
})

test('close() cancels the running jobs and resolves once they stopped, as in C and Python', async () => {
  const engine = newEngine()
  const dst = path.join(tempDir(), 'dst')
  let moved
  const moving = new Promise((resolve) => (moved = resolve))
  const job = await engine.start(slowSource(), dst, SLOW, (s) => {
    if (s.bytes_done > 0) moved(s)
  })
  await moving
  await engine.close()
  assert.equal(job.status, 'cancelled')
  assert.equal(job.report().status, 'cancelled')
  assert.deepEqual(fs.readdirSync(dst, { recursive: true }).filter((p) => p.includes('.swtmp-')), [])
})

test('node exits by itself once a job started without waiting has finished', { timeout: 120000 }, async () => {
  const src = makeTree(SMALL)
  const dst = path.join(tempDir(), 'dst')
  const script = `
    const { Engine } = require(${JSON.stringify(path.join(__dirname, '..'))})
    const engine = new Engine()
    engine.subscribe() // an idle subscription does not hold the process
    engine.start(process.argv[1], process.argv[2], { progress_interval_ms: 10 }, (p) => {
      if (p.stage === 'done') console.log('done seen')
    })
  `
  const child = spawn(process.execPath, ['-e', script, src, dst], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  const code = await new Promise((resolve) => child.on('exit', resolve))
  assert.equal(code, 0)
  assert.equal(out, 'done seen\n')
  assert.deepEqual(readTree(dst), readTree(src))
})

/** The member names of `export interface NAME { ... }` in index.d.ts. */
function interfaceKeys(name) {
  const dts = fs.readFileSync(path.join(__dirname, '..', 'index.d.ts'), 'utf8')
  const m = dts.match(new RegExp(`export interface ${name} \\{([\\s\\S]*?)\\n\\}`))
  assert.ok(m, `interface ${name} not found in index.d.ts`)
  return [...m[1].matchAll(/^  (\w+)\??:/gm)].map((x) => x[1]).sort()
}

test('index.d.ts describes the options, snapshots and reports core uses', async () => {
  assert.deepEqual(interfaceKeys('SyncOptionsFields'), Object.keys(sw._defaultSyncOptionsForTest()).sort())
  const engine = newEngine()
  const job = await engine.start(makeTree(SMALL), path.join(tempDir(), 'dst'))
  const report = await job.wait()
  assert.deepEqual(interfaceKeys('ProgressSnapshot'), Object.keys(job.progress()).sort())
  assert.deepEqual(interfaceKeys('SyncStats'), Object.keys(report.stats).sort())
  const reportKeys = interfaceKeys('SyncReport')
  for (const k of Object.keys(report)) assert.ok(reportKeys.includes(k), `SyncReport lacks ${k}`)
  assert.deepEqual(
    reportKeys.filter((k) => !(k in report)),
    // Only on failures, dry runs, command profiles and run-alls.
    ['failed', 'fatal', 'output', 'plan', 'results', 'successful', 'total'],
  )
  const { plan } = await engine.sync(makeTree(SMALL), path.join(tempDir(), 'dst'), { dry_run: true })
  assert.deepEqual(interfaceKeys('Plan'), Object.keys(plan).sort())
  assert.deepEqual(interfaceKeys('PlanTotals'), Object.keys(plan.totals).sort())
})

/** Runs `node args...` and resolves to { code, stdout, stderr }. */
function run(args, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

test('index.d.ts type-checks a usage file with tsc', { timeout: 120000 }, async () => {
  const tsc = require.resolve('typescript/bin/tsc')
  const { code, stdout, stderr } = await run([tsc, '-p', path.join(__dirname, 'types')])
  assert.equal(code, 0, stdout + stderr)
})

test('examples/node/sync_report.js prints progress to stderr and the report to stdout', { timeout: 120000 }, async () => {
  const example = path.join(__dirname, '..', '..', 'examples', 'node', 'sync_report.js')
  const src = makeTree(SMALL)
  const dst = path.join(tempDir(), 'dst')
  const env = { SYNCWRIGHT_STATE_DIR: STATE_DIR }
  const ok = await run([example, src, dst, '{"progress_interval_ms": 10}'], env)
  assert.equal(ok.code, 0, ok.stderr)
  const lines = ok.stdout.split('\n')
  assert.deepEqual(lines.slice(1), [''])
  const report = JSON.parse(lines[0])
  assert.equal(report.status, 'completed')
  assert.equal(report.stats.created, Object.keys(SMALL).length)
  const progress = ok.stderr.trim().split('\n')
  assert.ok(progress.every((l) => /^progress \d+(\.\d+)? [a-z]+$/.test(l)), ok.stderr)
  assert.equal(progress.at(-1), 'progress 100 done')
  assert.deepEqual(readTree(dst), readTree(src))

  const failed = await run([example, path.join(tempDir(), 'missing'), dst, '{}'], env)
  assert.equal(failed.code, 1)
  assert.equal(JSON.parse(failed.stdout).fatal.kind, 'not_found')
  const bad = await run([example, src, dst, '{"no_such_option": true}'], env)
  assert.equal(bad.code, 1)
  assert.equal(bad.stdout, '')
  assert.match(bad.stderr, /invalid_input/)
})

test('a throwing onProgress is a process warning and an error event on the job; the job and the process go on', async () => {
  const engine = newEngine()
  const warnings = []
  const onWarning = (w) => {
    if (w.name === 'SyncwrightWarning') warnings.push(w)
  }
  process.on('warning', onWarning)
  try {
    let calls = 0
    const job = await engine.start(slowSource(), path.join(tempDir(), 'dst'), { ...SLOW, progress_interval_ms: 10 }, () => {
      calls++
      throw new Error('boom from onProgress')
    })
    let errored
    const first = new Promise((resolve) => (errored = resolve))
    job.on('error', errored)
    assert.throws(() => job.on('progress', () => {}), isSwError('invalid_input'))
    const e = await first
    assert.match(e.message, /boom from onProgress/)
    assert.equal(job.status, 'running')
    job.cancel()
    const report = await job.wait()
    assert.equal(report.status, 'cancelled')
    // Warnings are emitted on the next tick: one per throw.
    await new Promise((resolve) => setImmediate(resolve))
    assert.ok(calls >= 1)
    assert.equal(warnings.length, calls)
    assert.match(warnings[0].message, /onProgress threw: boom from onProgress/)
  } finally {
    process.off('warning', onWarning)
    await engine.close()
  }
})

test('a panic is a thrown Error, never an abort: every export is guarded', () => {
  assert.throws(() => sw._panicForTest(), (e) => e instanceof Error && /a panic for the test/.test(e.message))
  // The process goes on.
  assert.equal(typeof sw.version(), 'string')
})

/** The members of `export interface NAME { ... }` in index.d.ts: { required: [...], optional: [...] }. */
function interfaceFields(name) {
  const dts = fs.readFileSync(path.join(__dirname, '..', 'index.d.ts'), 'utf8')
  const m = dts.match(new RegExp(`export interface ${name}(?: extends (\\w+))? \\{([\\s\\S]*?)\\n\\}`))
  assert.ok(m, `interface ${name} not found in index.d.ts`)
  const fields = [...m[2].matchAll(/^  (\w+)(\??):/gm)]
  const own = { required: fields.filter((f) => !f[2]).map((f) => f[1]), optional: fields.filter((f) => f[2]).map((f) => f[1]) }
  if (!m[1]) return own
  const parent = interfaceFields(m[1])
  return { required: [...parent.required, ...own.required], optional: [...parent.optional, ...own.optional] }
}

/** Checks `value`'s keys against interface `name`: no key it does not declare, every key it requires. */
function conforms(value, name) {
  const { required, optional } = interfaceFields(name)
  for (const k of Object.keys(value)) assert.ok(required.includes(k) || optional.includes(k), `${name} lacks ${k}`)
  for (const k of required) assert.ok(k in value, `${name}.${k} is required but absent`)
}

test('index.d.ts describes every document of the front door, checked against real objects', async () => {
  const root = tempDir()
  const src = makeTree(SMALL)
  const cfg = path.join(root, 'sw.toml')
  fs.writeFileSync(cfg, `[settings]\ncoordination_dir = "${root}/coord"\nstate_dir = "${root}/state"\nlog_dir = "${root}/logs"\n` +
    `[profiles.user_data]\nsource = "${src}"\ndestination = "${root}/dst"\n`)
  const engine = await Engine.open({ configFile: cfg })
  try {
    for (const p of await engine.profiles()) conforms(p, 'ProfileInfo')
    const job = await engine.runProfile('user_data')
    const report = await job.wait()
    assert.equal(report.status, 'completed')
    const status = await engine.profileStatus('user_data')
    conforms(status, 'ProfileStatus')
    conforms(status.last_run, 'LastRun')
    conforms(status.last_run.stats, 'SyncStats')
    conforms(await engine.unlockProfile('user_data'), 'UnlockReport')
    conforms(await engine.lockSelfTest(), 'LockSelfTest')
    const snap = (await engine.job(job.id)).snapshot(true)
    conforms(snap, 'JobSnapshot')
    for (const s of await engine.recentJobs()) conforms(s, 'JobSnapshot')
    const history = await engine.runHistory('user_data')
    conforms(history, 'RunPage')
    conforms(history.pagination, 'Pagination')
    for (const r of history.runs) conforms(r, 'RunRecord')
    const logs = await engine.profileLogPage('user_data')
    conforms(logs, 'LogPage')
    for (const e of logs.logs) conforms(e, 'LogEntry')
    const usage = await engine.storageUsage({ root: src })
    conforms(usage, 'StorageUsage')
    for (const op of await engine.operations()) conforms(op, 'Operation')
    conforms(await engine.recoveryMetrics(), 'RecoveryMetrics')
    for (const s of await engine.recoveryScenarios()) conforms(s, 'ScenarioInfo')
    conforms(await engine.breakerSettings(), 'BreakerSettings')
    for (const l of await engine.profileLocks()) conforms(l, 'ProfileLocks')
    conforms(await engine.config(), 'Config')
    const all = await (await engine.runAll()).wait()
    conforms(all, 'SyncReport')
  } finally {
    await engine.close()
  }
})

test('package.json: its exports map serves require, import (named exports too) and the types', async () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8'))
  assert.equal(pkg.exports['.'].types, './index.d.ts')
  const app = tempDir()
  fs.mkdirSync(path.join(app, 'node_modules'))
  fs.symlinkSync(path.join(__dirname, '..'), path.join(app, 'node_modules', 'syncwright'))
  const run = (args) =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, args, { cwd: app, stdio: ['ignore', 'pipe', 'inherit'] })
      let out = ''
      child.stdout.on('data', (d) => (out += d))
      child.on('exit', (code) => resolve({ code, out }))
    })
  const cjs = await run(['-e', "const { Engine, version } = require('syncwright'); console.log(typeof Engine.open, version())"])
  assert.deepEqual(cjs, { code: 0, out: `function ${sw.version()}\n` })
  const esm = await run(['--input-type=module', '-e', "import { Engine, statusOutcome } from 'syncwright'; console.log(typeof Engine.open, statusOutcome('completed'))"])
  assert.deepEqual(esm, { code: 0, out: 'function success\n' })
})
