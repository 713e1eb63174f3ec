#!/usr/bin/env node
// front_door CONFIG_TOML
//
// The profile calls of the front door, the Node program of the cross-language scenario. The config file has two
// profiles: "quick" (a small tree) and "slow" (a bwlimit, so that it runs for a while). Lists the profiles, runs
// "quick" and shows its status, log and history, starts "slow" and cancels it once it has started, and shows the
// errors of a missing profile and of a bad page. Prints one JSON object per line to stdout: {"step", "value"}
// ({"step", "kind"} for the errors). Exit code: 0, or 1 on an error; 2 for wrong arguments.
'use strict'

const { Engine } = require('../../bindings-node') // in your project: require('syncwright')

const emit = (step, value) => console.log(JSON.stringify({ step, value }))

// Prints the code of the error `promise` rejects with.
async function emitKind(step, promise) {
  const kind = await promise.then(
    () => 'ok',
    (err) => err.code,
  )
  console.log(JSON.stringify({ step, kind }))
}

async function main(args) {
  if (args.length !== 1) {
    console.error('usage: front_door CONFIG_TOML')
    return 2
  }
  const engine = await Engine.open({ configFile: args[0] })
  try {
    emit('profiles', await engine.profiles())
    emit('status_before', await engine.profileStatus('quick'))
    emit('run', await (await engine.runProfile('quick')).wait())
    emit('status_after', await engine.profileStatus('quick'))
    emit('logs', await engine.profileLogTail('quick', { lines: 2 }))

    // Subscribe before starting the job, so that its job_started event cannot be missed.
    const sub = engine.subscribe({ filter: { types: ['job_started'] } })
    const job = await engine.runProfile('slow')
    const giveUp = setTimeout(() => sub.close(), 30000) // closing it ends the loop below
    let seen = false
    for await (const event of sub) {
      if (event.job_id === job.id) {
        seen = true
        break // closes the subscription
      }
    }
    clearTimeout(giveUp)
    job.cancel()
    if (!seen) throw new Error('the slow job did not start in 30 s')
    emit('cancelled', await job.wait())

    await emitKind('not_found', engine.profileStatus('nope'))
    await emitKind('invalid', engine.runHistory('quick', { page: 1, perPage: 0 }))
    emit('history', await engine.runHistory('quick', { page: 1, perPage: 10 }))
  } finally {
    await engine.close()
  }
  return 0
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (err) => {
    console.error(`front_door: ${err.code ?? 'error'}: ${err.message}`)
    process.exitCode = 1
  },
)
