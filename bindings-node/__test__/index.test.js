// Tests of the Node binding: version, error codes and buildManifest. Run with `node --test __test__/`.
'use strict'

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

// Keep syncwright's state store (hash cache) out of the user's home during tests.
process.env.SYNCWRIGHT_STATE_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'syncwright-state-'))

const sw = require('..')

function tempDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'syncwright-node-'))
}

test('version is a semver string', () => {
  assert.match(sw.version(), /^\d+\.\d+\.\d+/)
})

test('every error kind becomes an Error with code, kind and path', () => {
  const kinds = sw.errorKinds()
  assert.equal(kinds.length, 13)
  assert.ok(kinds.includes('not_found') && kinds.includes('feature_disabled'))
  for (const kind of kinds) {
    assert.throws(
      () => sw._throwForTest(kind, `a ${kind} error`, 'some/path'),
      (e) => {
        assert.ok(e instanceof Error)
        assert.equal(e.code, kind)
        assert.equal(e.kind, kind)
        assert.equal(e.message, `a ${kind} error`)
        assert.equal(e.path, 'some/path')
        return true
      },
    )
  }
  assert.throws(() => sw._throwForTest('conflict', 'held'), (e) => e.code === 'conflict' && e.path === undefined)
})

test('an error\'s structured details become its details object', () => {
  const holder = { lock: 'dest-1', job_id: 'j-1', started_at: '2025-01-01T00:00:00Z', pid: 42, host: 'h' }
  assert.throws(
    () => sw._throwForTest('conflict', 'held', null, JSON.stringify(holder)),
    (e) => {
      assert.equal(e.code, 'conflict')
      assert.deepEqual(e.details, holder)
      return true
    },
  )
  assert.throws(
    () => sw._throwForTest('unavailable', 'busy', null, '{"retry_after_secs": 7.5}'),
    (e) => e.kind === 'unavailable' && e.details.retry_after_secs === 7.5,
  )
  assert.throws(() => sw._throwForTest('not_found', 'gone'), (e) => e.details === undefined)
})

test('buildManifest rejects a missing root with code not_found', async () => {
  const missing = path.join(tempDir(), 'does-not-exist')
  const p = sw.buildManifest(missing)
  assert.ok(p instanceof Promise)
  await assert.rejects(p, (e) => {
    assert.equal(e.code, 'not_found', `${e.code}: ${e.message}`)
    return true
  })
})

test('buildManifest resolves to a plain object', async () => {
  const root = tempDir()
  fs.writeFileSync(path.join(root, 'a.txt'), 'hello')
  fs.mkdirSync(path.join(root, 'sub'))
  fs.writeFileSync(path.join(root, 'sub', 'b.bin'), Buffer.alloc(1000))
  const result = await sw.buildManifest(root, {})
  assert.equal(typeof result, 'object')
  assert.deepEqual(result.errors, [])
  const { manifest } = result
  assert.ok(manifest.schema_version >= 1)
  assert.deepEqual(
    manifest.entries.map((e) => e.path),
    ['a.txt', 'sub/b.bin'],
  )
  assert.equal(manifest.entries[1].size, 1000)
  assert.equal(manifest.entries[0].hashes.sha256.length, 64)
})

test('buildManifest rejects unknown options with code invalid_input', async () => {
  await assert.rejects(sw.buildManifest(tempDir(), { no_such_option: 1 }), (e) => e.code === 'invalid_input')
})

test('concurrent calls all resolve', async () => {
  const root = tempDir()
  fs.writeFileSync(path.join(root, 'a.txt'), 'hello')
  const results = await Promise.all([1, 2, 3, 4].map(() => sw.buildManifest(root)))
  for (const r of results) assert.equal(r.manifest.entries.length, 1)
})

test('buildManifest checks its options synchronously', () => {
  assert.throws(() => sw.buildManifest('/', [1, 2]), (e) => e.code === 'invalid_input')
  assert.throws(() => sw.buildManifest(42), (e) => e instanceof Error)
})
