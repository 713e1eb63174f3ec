#!/usr/bin/env node
// server.mjs --config FILE --port N [--profile NAME]
//
// Serves document 5's POST /admin/sync/trigger and GET /admin/sync/status on 127.0.0.1:N with node:http, through
// the compiled route module (dist/route.js: build it first, see README.md), the way Medusa would call its
// `POST` and `GET`. `--profile` may be left out when the config has exactly one profile. Exit code 2 for bad
// arguments, 1 when the engine cannot be opened; SIGINT and SIGTERM close the server and the engine (a running
// job is cancelled), then exit 0. The state store is the config's `[settings] state_dir`, else
// $SYNCWRIGHT_STATE_DIR (or the default).
import http from 'node:http'
import { createRequire } from 'node:module'
import { parseArgs } from 'node:util'

const require = createRequire(import.meta.url)
const { Engine } = require('../../../bindings-node') // in your project: require('syncwright')
const { setSyncEngine, POST, GET } = require('./dist/route.js')

function usage(msg) {
  console.error(`medusa-sync: ${msg}`)
  console.error('usage: server.mjs --config FILE --port N [--profile NAME]')
  process.exit(2)
}

let args
try {
  args = parseArgs({
    options: { config: { type: 'string' }, port: { type: 'string' }, profile: { type: 'string' } },
  }).values
} catch (err) {
  usage(err.message)
}
if (!args.config) usage('--config is required')
const port = Number(args.port)
if (!args.port || !Number.isInteger(port) || port < 0 || port > 65535) usage('--port N is required (0 to 65535)')

let engine
try {
  engine = await Engine.open({ configFile: args.config })
} catch (err) {
  console.error(`medusa-sync: ${err.code ?? 'error'}: ${err.message}`)
  process.exit(1)
}

const names = (await engine.profiles()).map((p) => p.name)
let profile = args.profile
if (profile === undefined) {
  if (names.length !== 1) {
    await engine.close()
    usage(`the config has ${names.length} profiles (${names.join(', ') || 'none'}): choose one with --profile`)
  }
  profile = names[0]
} else if (!names.includes(profile)) {
  await engine.close()
  usage(`no profile ${profile} in ${args.config} (it has: ${names.join(', ') || 'none'})`)
}

setSyncEngine(engine, profile, { logger: console })

const ROUTES = {
  'POST /admin/sync/trigger': POST,
  'GET /admin/sync/status': GET,
}

/** Medusa's `res`, over node's. */
function medusaResponse(res) {
  const out = {
    status(code) {
      res.statusCode = code
      return out
    },
    json(body) {
      res.setHeader('content-type', 'application/json; charset=utf-8')
      res.end(JSON.stringify(body))
    },
  }
  return out
}

async function readBody(req) {
  let text = ''
  for await (const chunk of req) text += chunk
  if (!text) return {}
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://localhost')
  const handler = ROUTES[`${req.method} ${url.pathname}`]
  const mres = medusaResponse(res)
  if (!handler) {
    mres.status(404).json({ status: 'error', message: `no route ${req.method} ${url.pathname}` })
    return
  }
  try {
    await handler({ body: await readBody(req), method: req.method, url: req.url, headers: req.headers }, mres)
  } catch (err) {
    if (!res.headersSent) mres.status(500).json({ status: 'error', message: err.message })
  }
})

server.listen(port, '127.0.0.1', () => {
  const { port: actual } = server.address()
  console.log(`medusa-sync: profile ${profile} on http://127.0.0.1:${actual}/admin/sync/{trigger,status}`)
})

let stopping = false
async function stop(signal) {
  if (stopping) return
  stopping = true
  console.log(`medusa-sync: ${signal}, closing`)
  server.close()
  server.closeAllConnections()
  await engine.close()
  process.exit(0)
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
