// Tests of examples/node/medusa-sync: the route module compiles with the locked typescript, and server.mjs serves
// document 5's POST /admin/sync/trigger and GET /admin/sync/status over real HTTP.
// Real files in os.tmpdir(); synchronisation by bounded polling of the server and by child exits (no fixed sleeps).
'use strict'

const { test, after } = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')

const BINDING = path.join(__dirname, '..')
const EXAMPLE = path.join(BINDING, '..', 'examples', 'node', 'medusa-sync')
const SERVER = path.join(EXAMPLE, 'server.mjs')
const STATE_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'syncwright-state-'))
const ENV = { ...process.env, SYNCWRIGHT_STATE_DIR: STATE_DIR }
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/

const children = new Set()
after(() => {
  for (const child of children) child.kill('SIGKILL')
})

function tempDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'syncwright-medusa-'))
}

function makeTree(files) {
  const root = tempDir()
  for (const [rel, content] of Object.entries(files)) {
    const p = path.join(root, rel)
    fs.mkdirSync(path.dirname(p), { recursive: true })
    fs.writeFileSync(p, content)
  }
  return root
}

const SMALL = {
  'a.txt': 'hello\n',
  'sub/b.bin': crypto.randomBytes(50000),
  'sub/deeper/c.json': '{"x": 1}',
}

/** A config file with `profiles` ({ name: extra TOML lines }), absolute paths, its settings in a new tmp folder. */
function writeConfig(profiles) {
  const dir = tempDir()
  const q = (p) => JSON.stringify(p)
  let text =
    `[settings]\ncoordination_dir = ${q(path.join(dir, 'coord'))}\nstate_dir = ${q(path.join(dir, 'state'))}\n` +
    `log_dir = ${q(path.join(dir, 'logs'))}\n`
  for (const [name, { source, extra = '' }] of Object.entries(profiles)) {
    text += `\n[profiles.${name}]\nsource = ${q(source)}\ndestination = ${q(path.join(dir, `dst-${name}`))}\n${extra}`
  }
  const file = path.join(dir, 'syncwright.toml')
  fs.writeFileSync(file, text)
  return file
}

/** A free loopback port: listen on port 0, note the port, close. */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

/** Spawns `argv` with node; `exited` resolves to { code, signal, stdout, stderr } when it ends. */
function spawnNode(argv) {
  const child = spawn(process.execPath, argv, { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  const out = { stdout: '', stderr: '' }
  child.stdout.on('data', (d) => (out.stdout += d))
  child.stderr.on('data', (d) => (out.stderr += d))
  const exited = new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code, signal) => {
      children.delete(child)
      resolve({ code, signal, ...out })
    })
  })
  return { child, exited, out }
}

const delay = (ms) => new Promise((r) => setTimeout(r, ms))

/** Calls `probe` until it returns something other than undefined, at most `timeoutMs`. */
async function poll(what, probe, timeoutMs = 30000, everyMs = 50) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`)
    await delay(everyMs)
  }
}

/** Starts server.mjs on a free port and resolves once it answers GET /admin/sync/status. */
async function startServer(config, profile) {
  const port = await freePort()
  const argv = [SERVER, '--config', config, '--port', String(port)]
  if (profile) argv.push('--profile', profile)
  const server = spawnNode(argv)
  let ended = null
  server.exited.then((r) => (ended = r))
  const base = `http://127.0.0.1:${port}`
  await poll('the server to answer', async () => {
    if (ended) assert.fail(`server.mjs exited (${ended.code}): ${ended.stderr}`)
    try {
      const res = await fetch(`${base}/admin/sync/status`)
      await res.arrayBuffer()
      return true
    } catch {
      return undefined // not listening yet
    }
  })
  return { ...server, base }
}

async function call(base, method, route) {
  const res = await fetch(`${base}${route}`, {
    method,
    headers: method === 'POST' ? { 'content-type': 'application/json' } : {},
    body: method === 'POST' ? '{}' : undefined,
  })
  assert.match(res.headers.get('content-type'), /application\/json/)
  return { code: res.status, body: await res.json() }
}

const status = (base) => call(base, 'GET', '/admin/sync/status')
const trigger = (base) => call(base, 'POST', '/admin/sync/trigger')

async function stopServer(server) {
  server.child.kill('SIGTERM')
  const r = await server.exited
  assert.equal(r.code, 0, `exit ${r.code} ${r.signal}: ${r.stderr}`)
  return r
}

test('the route module compiles with the locked typescript (strict)', { timeout: 120000 }, async () => {
  const tsc = path.join(BINDING, 'node_modules', '.bin', 'tsc')
  const child = spawn(tsc, ['-p', '../examples/node/medusa-sync/tsconfig.json'], { cwd: BINDING, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (d) => (output += d))
  child.stderr.on('data', (d) => (output += d))
  const code = await new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', resolve)
  })
  assert.equal(code, 0, output)
  assert.ok(fs.existsSync(path.join(EXAMPLE, 'dist', 'route.js')))
})

test('status is idle, a trigger runs the profile in the background, the status then shows its success', { timeout: 120000 }, async () => {
  const config = writeConfig({ user_data: { source: makeTree(SMALL) } })
  const server = await startServer(config) // one profile: --profile may be left out
  try {
    const idle = await status(server.base)
    assert.equal(idle.code, 200)
    assert.deepEqual(idle.body, {
      status: 'success',
      data: {
        isRunning: false,
        lastRun: null,
        lastStatus: 'idle',
        lastError: null,
        lastDuration: null,
        stats: { created: 0, updated: 0, errors: 0 },
      },
    })

    const started = await trigger(server.base)
    assert.equal(started.code, 200, JSON.stringify(started.body))
    assert.equal(started.body.status, 'success')
    assert.equal(started.body.message, 'Sync job triggered successfully')
    assert.equal(started.body.data.checkStatusAt, '/admin/sync/status')
    assert.equal(typeof started.body.data.startedAt, 'string')
    assert.match(started.body.data.startedAt, ISO)

    const done = await poll('the run to end', async () => {
      const s = await status(server.base)
      return s.body.data.isRunning ? undefined : s
    })
    assert.equal(done.code, 200)
    const { data } = done.body
    assert.equal(data.lastStatus, 'success', JSON.stringify(done.body))
    assert.equal(data.lastError, null)
    assert.equal(data.lastRun, started.body.data.startedAt)
    assert.equal(typeof data.lastDuration, 'number')
    assert.ok(data.lastDuration >= 0)
    assert.deepEqual(data.stats, { created: Object.keys(SMALL).length, updated: 0, errors: 0 })

    const missing = await call(server.base, 'GET', '/admin/sync/nothing')
    assert.equal(missing.code, 404)
  } finally {
    await stopServer(server)
  }
})

test('a second trigger while the first runs is a 409 naming the first start; SIGTERM stops the server', { timeout: 120000 }, async () => {
  // 3 MiB under 64 KiB/s: the run goes on for many seconds.
  const config = writeConfig({
    slow: { source: makeTree({ 'big.bin': crypto.randomBytes(3 << 20) }), extra: 'bwlimit = "64K"\n' },
    user_data: { source: makeTree(SMALL) },
  })
  const server = await startServer(config, 'slow')
  let stopped = false
  try {
    const first = await trigger(server.base)
    assert.equal(first.code, 200, JSON.stringify(first.body))
    assert.match(first.body.data.startedAt, ISO)

    const second = await trigger(server.base)
    assert.equal(second.code, 409, JSON.stringify(second.body))
    assert.deepEqual(second.body, {
      status: 'error',
      message: 'Sync job is already running',
      data: { startedAt: first.body.data.startedAt },
    })

    const running = await status(server.base)
    assert.equal(running.code, 200)
    assert.equal(running.body.data.isRunning, true)
    assert.equal(running.body.data.lastStatus, 'running')
    assert.equal(running.body.data.lastRun, first.body.data.startedAt)
    assert.equal(running.body.data.lastDuration, null)
    assert.deepEqual(running.body.data.stats, { created: 0, updated: 0, errors: 0 })

    const r = await stopServer(server)
    stopped = true
    assert.equal(r.signal, null)
  } finally {
    if (!stopped) server.child.kill('SIGKILL')
  }
})

test('--profile left out with two profiles in the config: exit code 2', { timeout: 60000 }, async () => {
  const config = writeConfig({ one: { source: makeTree(SMALL) }, two: { source: makeTree(SMALL) } })
  const r = await spawnNode([SERVER, '--config', config, '--port', String(await freePort())]).exited
  assert.equal(r.code, 2, r.stderr)
  assert.match(r.stderr, /--profile/)
  assert.match(r.stderr, /one, two/)
})
