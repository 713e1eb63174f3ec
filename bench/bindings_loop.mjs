#!/usr/bin/env node
// Node binding benchmarks: the event loop during a sync and a plan, and the per-call cost of a status call.
//
// Event loop: a 10 ms interval timer runs while a sync of a 20,000-file tree and a plan of the same tree (to a
// second destination) run through the binding; each tick's lateness (how long after its 10 ms it fired) is
// recorded, and the p50, p99 and max are printed. A binding that did I/O or waited on the JavaScript thread would
// show here as late ticks.
//
// Status call: the mean time of `await engine.profileStatus(name)` over CALLS calls on an idle profile.
//
//   node bench/bindings_loop.mjs [--files 20000] [--runs 3] [--calls 2000]
import { createRequire } from 'node:module'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import crypto from 'node:crypto'

const require = createRequire(import.meta.url)
const { Engine } = require('../bindings-node')

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, v, i, a) => (v.startsWith('--') ? [...acc, [v.slice(2), a[i + 1]]] : acc), []),
)
const FILES = Number(args.files ?? 20000)
const RUNS = Number(args.runs ?? 3)
const CALLS = Number(args.calls ?? 2000)

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-bench-loop-'))
const src = path.join(work, 'src')
for (let i = 0; i < FILES; i++) {
  const d = path.join(src, `d${String(i % 200).padStart(3, '0')}`)
  if (i < 200) fs.mkdirSync(d, { recursive: true })
  fs.writeFileSync(path.join(d, `f${String(i).padStart(6, '0')}.txt`), crypto.randomBytes(64 + (i % 448)))
}

function pct(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

const all = []
try {
  for (let r = 0; r < RUNS; r++) {
    const engine = await Engine.open({ stateDir: path.join(work, `st${r}`) })
    const late = []
    let last = performance.now()
    const timer = setInterval(() => {
      const now = performance.now()
      late.push(Math.max(0, now - last - 10))
      last = now
    }, 10)
    const [report] = await Promise.all([
      engine.sync(src, path.join(work, `dst${r}`)),
      engine.plan(src, path.join(work, `plan${r}`)),
    ])
    clearInterval(timer)
    if (report.status !== 'completed') throw new Error(`sync ${report.status}`)
    await engine.close()
    late.sort((a, b) => a - b)
    all.push(...late)
    console.log(`run ${r + 1}: ${late.length} ticks, lateness p50 ${pct(late, 50).toFixed(2)} ms, p99 ${pct(late, 99).toFixed(2)} ms, max ${late.at(-1).toFixed(2)} ms`)
  }
  all.sort((a, b) => a - b)
  console.log(`all runs: ${all.length} ticks of a 10 ms timer during a ${FILES}-file sync and a plan: p99 lateness ${pct(all, 99).toFixed(2)} ms`)

  fs.mkdirSync(path.join(work, 'p'))
  const cfg = path.join(work, 'sw.toml')
  fs.writeFileSync(cfg, `[settings]\nstate_dir = "${work}/stp"\n[profiles.p]\nsource = "${work}/p"\ndestination = "${work}/pd"\n`)
  const engine = await Engine.open({ configFile: cfg })
  await engine.profileStatus('p')
  const t = performance.now()
  for (let i = 0; i < CALLS; i++) await engine.profileStatus('p')
  console.log(`engine.profileStatus: ${(((performance.now() - t) / CALLS) * 1000).toFixed(0)} us per call (mean of ${CALLS})`)
  await engine.close()
} finally {
  fs.rmSync(work, { recursive: true, force: true })
}
