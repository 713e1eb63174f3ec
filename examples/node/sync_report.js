#!/usr/bin/env node
// sync_report SRC DST OPTIONS_JSON
//
// Syncs SRC into DST as a background job, printing one line per progress snapshot to stderr
// ("progress <percent> <stage>"), then prints the canonical report JSON (one line) to stdout.
// Exit code: 0 completed, 3 partial, 1 otherwise. The state store is $SYNCWRIGHT_STATE_DIR (or the default).
'use strict'

const { Engine } = require('../../bindings-node') // in your project: require('syncwright')

async function main([src, dst, optionsJson = '{}']) {
  if (!src || !dst) {
    console.error('usage: sync_report SRC DST [OPTIONS_JSON]')
    return 1
  }
  const engine = await Engine.open({ stateDir: process.env.SYNCWRIGHT_STATE_DIR })
  const job = await engine.start(src, dst, JSON.parse(optionsJson), (p) => {
    console.error(`progress ${p.percent} ${p.stage}`)
  })
  const report = await job.wait()
  console.log(job.reportJson()) // exactly core's JSON text; `report` is the same document parsed
  return { completed: 0, partial: 3 }[report.status] ?? 1
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (err) => {
    console.error(`sync_report: ${err.code ?? 'error'}: ${err.message}`)
    process.exitCode = 1
  },
)
