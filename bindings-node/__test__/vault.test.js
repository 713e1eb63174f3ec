// The vault and document 3's cloud-sync calls from Node: every call a promise, results checked against
// index.d.ts, errors with their codes, camelCase options, and no secret in any error.
'use strict'

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const sw = require('..')
const { Engine } = sw

/** The members of `export interface NAME { ... }` in index.d.ts. */
function fields(name) {
  const dts = fs.readFileSync(path.join(__dirname, '..', 'index.d.ts'), 'utf8')
  const m = dts.match(new RegExp(`export interface ${name} \\{([\\s\\S]*?)\\n\\}`))
  assert.ok(m, `interface ${name} not found in index.d.ts`)
  const all = [...m[1].matchAll(/^  (\w+)(\??):/gm)]
  return { required: all.filter((f) => !f[2]).map((f) => f[1]), optional: all.filter((f) => f[2]).map((f) => f[1]) }
}

function conforms(value, name) {
  const { required, optional } = fields(name)
  for (const k of Object.keys(value)) assert.ok(required.includes(k) || optional.includes(k), `${name} lacks ${k}`)
  for (const k of required) assert.ok(k in value, `${name}.${k} is required but absent`)
}

function setup(flags) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'syncwright-vault-'))
  fs.mkdirSync(path.join(root, 'proj', 'assets'), { recursive: true })
  fs.writeFileSync(path.join(root, 'proj', 'assets', 'a.txt'), 'a')
  fs.mkdirSync(path.join(root, 'proj', 'logs'))
  fs.writeFileSync(path.join(root, 'proj', 'logs', 'x.log'), 'log')
  return {
    root,
    config: {
      settings: { vault: path.join(root, 'v.json'), vaultKdf: { mKib: 64, t: 1, p: 1 }, stateDir: path.join(root, 'state') },
      features: { enableCloudSync: flags, enableCloudSyncS3: flags },
      cloudSync: { root: path.join(root, 'proj'), s3: { bucket: 'b' } },
    },
  }
}

test('vault calls: round trip, held unlock, errors by code, nothing secret in messages', async () => {
  const { root, config } = setup(false)
  const engine = await Engine.open({ config })
  try {
    conforms(await engine.config(), 'Config')
    const st = await engine.vaultStatus()
    conforms(st, 'VaultStatus')
    assert.equal(st.exists, false)
    conforms(await engine.vaultInit({ passphrase: 'node passphrase' }), 'VaultStatus')
    assert.deepEqual(await engine.vaultSet('cloud_sync.s3', { access_key_id: 'AK', secret_access_key: 'node-secret-1' }), ['cloud_sync.s3'])
    const got = await engine.vaultGet('cloud_sync.s3')
    conforms(got, 'VaultValue')
    // The keys of a value are data: kept as given, never converted.
    assert.deepEqual(got.value, { access_key_id: 'AK', secret_access_key: 'node-secret-1' })
    await engine.vaultSet('camel', { accessKeyId: 'x' })
    assert.deepEqual((await engine.vaultGet('camel')).value, { accessKeyId: 'x' })
    assert.deepEqual(await engine.vaultKeys(), ['camel', 'cloud_sync.s3'])
    await assert.rejects(engine.vaultGet('nope'), (e) => e.code === 'not_found')
    await assert.rejects(engine.vaultSet('bad key!', 'node-secret-2'), (e) => e.code === 'invalid_input' && !e.message.includes('node-secret-2'))
    assert.throws(() => engine.vaultSet('k', 42), (e) => e.code === 'invalid_input')
    await assert.rejects(engine.vaultUnlock({ passphrase: 'wrong' }), (e) => e.code === 'auth')
    conforms(await engine.vaultChangePassphrase({ newPassphrase: 'new node passphrase' }), 'VaultStatus')
    await engine.vaultLock()
    await assert.rejects(engine.vaultKeys({ passphrase: 'node passphrase' }), (e) => e.code === 'auth')
    const r = await engine.vaultRestoreBackup({ passphrase: 'new node passphrase' })
    conforms(r, 'VaultRestore')
    assert.deepEqual(r, { restored: false, backup: null })
    assert.deepEqual(await engine.vaultDelete('camel'), ['cloud_sync.s3'])
    const conf = path.join(root, 'rclone.conf')
    fs.writeFileSync(conf, '[aws]\ntype = s3\naccess_key_id = AK\nsecret_access_key = rc-node-secret\n[gd]\ntype = drive\ntoken = {}\n')
    const imp = await engine.vaultImportRclone(conf, { prefix: 'imported' })
    conforms(imp, 'RcloneImport')
    assert.equal(JSON.stringify(imp).includes('rc-node-secret'), false)
    assert.equal(imp.imported[0].key, 'imported.aws')
    assert.equal(imp.not_imported[0].section, 'gd')
  } finally {
    await engine.close()
  }
})

test('cloud-sync calls follow the feature flags', async () => {
  const off = await Engine.open({ config: setup(false).config })
  try {
    await assert.rejects(off.cloudManifest(), (e) => e.code === 'feature_disabled')
    await assert.rejects(off.cloudDryRun({ service: 's3' }), (e) => e.code === 'feature_disabled' && /enable_cloud_sync_s3/.test(e.message))
  } finally {
    await off.close()
  }
  const on = await Engine.open({ config: setup(true).config })
  try {
    const m = await on.cloudManifest({ snapshot: 'nightly' })
    conforms(m, 'CloudManifest')
    conforms(m.manifest, 'CloudManifestSummary')
    assert.equal(m.manifest.entries, 1, 'the logs folder stays home')
    await assert.rejects(on.cloudDryRun({ service: 's3', serviceConfig: { endpointUrl: 'http://evil' } }), (e) => e.code === 'invalid_input')
    await assert.rejects(on.cloudRun({ service: 'gdrive' }), (e) => e.code === 'feature_disabled')
  } finally {
    await on.close()
  }
})

test('backups: create, list, verify, restore, with camelCase options', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'syncwright-backup-'))
  fs.mkdirSync(path.join(root, 'project', 'data'), { recursive: true })
  fs.writeFileSync(path.join(root, 'project', 'data', 'a.json'), '{}')
  const engine = await Engine.open({ config: { backup: { root: path.join(root, 'project'), maxBackups: 2 }, settings: { stateDir: path.join(root, 'state') } } })
  try {
    conforms(await engine.config(), 'Config')
    const made = await engine.backupCreate({ label: 'node', maxBackups: 2 })
    conforms(made, 'BackupCreated')
    assert.equal(made.entries, 1)
    const list = await engine.backupList()
    for (const b of list) conforms(b, 'BackupInfo')
    assert.deepEqual(list.map((b) => b.name), [made.name])
    const v = await engine.backupVerify(made.name)
    conforms(v, 'BackupVerify')
    assert.equal(v.ok, true)
    const r = await engine.backupRestore(made.name, { target: path.join(root, 'restored'), replaceExisting: true })
    conforms(r, 'BackupRestoreReport')
    assert.equal(fs.readFileSync(path.join(root, 'restored', 'data', 'a.json'), 'utf8'), '{}')
    await assert.rejects(engine.backupCreate({ label: '../evil' }), (e) => e.code === 'invalid_input')
    await assert.rejects(engine.backupVerify('20990101T000000Z.zip'), (e) => e.code === 'not_found')
  } finally {
    await engine.close()
  }
})

test('mediaInfo reads the fixtures and matches index.d.ts', async () => {
  const media = path.join(__dirname, '..', '..', 'core', 'tests', 'data', 'media')
  const engine = await Engine.open({ noStore: true })
  try {
    const infos = await engine.mediaInfo([path.join(media, 'a1111.jpg'), path.join(media, 'comfyui.png'), path.join(media, 'missing.png')])
    for (const i of infos) conforms(i, 'MediaInfo')
    conforms(infos[0].metadata, 'GenerationMetadata')
    assert.equal(infos[0].metadata.generator, 'a1111')
    assert.equal(infos[1].metadata.generator, 'comfyui')
    assert.equal(infos[2].error.kind, 'not_found')
    assert.throws(() => engine.mediaInfo('a.png'), (e) => e.code === 'invalid_input')
    await assert.rejects(engine.mediaInfo([]), (e) => e.code === 'invalid_input')
  } finally {
    await engine.close()
  }
})
