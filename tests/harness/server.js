// Test harness: real Wechaty puppet software for linju's end-to-end tests.
//
// wechaty-puppet-service's PuppetServer serves a wechaty-puppet-mock PuppetMock over gRPC (plain HTTP/2,
// no TLS, loopback only), exactly what a production puppet gateway looks like to the Python client. A
// small JSON-over-HTTP control API on another loopback port lets pytest act as room members and read what
// the bot sent.
//
// Usage: node server.js [--grpc-port N] [--http-port N] [--token T] [--bot-name NAME] [--exit-on-stdin-close]
//   (or GRPC_PORT / HTTP_PORT / WECHATY_PUPPET_SERVICE_TOKEN / BOT_NAME; port 0 or absent = a free port)
// Prints one line `HARNESS_READY {json}` when both servers listen and the bot is logged in.
// Exits on SIGTERM/SIGINT, POST /shutdown, or (with --exit-on-stdin-close) when stdin closes.
//
// Control API (all JSON):
//   GET  /health                 {ready, grpc: "running"|"stopped", loggedIn, botId, grpcPort, refusing, refused}
//   GET  /state                  the bot, contacts and rooms (ids, names, topics, members)
//   POST /message                inject a message; body:
//          {from: contactId, room?: roomId, text?: str, mentions?: [contactId], atBot?: bool,
//           kind?: "text"|"image"|"voice"|"video"|"file"|"emoticon"|"red_packet"|"link"|"mini_program",
//           file?: {name: str, base64: str}}
//        without `room` it is a private message to the bot. `atBot` prepends "@<bot name>\u2005" to the
//        text and puts the bot into the puppet's mention list. `file` is the payload of a "voice" message (a
//        SILK recording, as WeChat sends voice) or a "file" one: the bot downloads it through the gateway
//        (messageFile), as from a real puppet. Returns {id}.
//   GET  /sent?since=SEQ         what the bot sent, in order: [{seq, id, conversationId, roomId, contactId,
//                                 text, mentionIds, file: {name, mediaType, size}|null, time}]
//   POST /reset                  forget what the bot sent (seq keeps counting); topics and names as at start
//   POST /room/topic             a member renames a room: {room: roomId, topic: str, by?: contactId}
//                                (the puppet emits room-topic, as WeChat does)
//   POST /contact/name           a member renames themselves: {contact: contactId, name: str} (seen by the
//                                bot when it next loads them; the old client has no event for it)
//   POST /server/stop            stop the gRPC server (the puppet gateway "goes away"); the mock keeps state;
//                                with {"onNextSend": true}: fail the bot's next send and stop right then
//   POST /server/start           start it again on the same port
//   POST /sends/refuse           {"refuse": true|false}: while on, the gateway fails every send of the bot (nothing
//                                goes out, nothing is recorded as sent) but stays up; `refused` counts those sends
//   POST /sends/delay            {"ms": N}: the bot's next send is carried out only after N ms (a slow gateway)
//   POST /puppet/error           the puppet emits an error event: {gerror: str} (default) or {data: str}
//   POST /shutdown               exit

import http from 'node:http'
import net from 'node:net'
import { randomUUID } from 'node:crypto'

import * as PUPPET from 'wechaty-puppet'
import { PuppetMock, mock } from 'wechaty-puppet-mock'
import { PuppetServer } from 'wechaty-puppet-service'

const HOST = '127.0.0.1'
process.noDeprecation = true  // grpc-js: "Calling start() is no longer necessary"

function arg (name, envName, fallback) {
  const i = process.argv.indexOf(`--${name}`)
  if (i !== -1 && i + 1 < process.argv.length) return process.argv[i + 1]
  if (envName && process.env[envName]) return process.env[envName]
  return fallback
}

const BOT_NAME = arg('bot-name', 'BOT_NAME', '邻聚小助手')
const TOKEN = arg('token', 'WECHATY_PUPPET_SERVICE_TOKEN', 'insecure_linju_e2e_token')
const AT_SEPARATOR = '\u2005'

function log (...args) {
  console.log(`[harness ${new Date().toISOString()}]`, ...args)
}

async function freePort () {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, HOST, () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

// ---------------------------------------------------------------- the mock world

const mocker = new mock.Mocker()
const puppet = new PuppetMock({ mocker })

const bot = mocker.createContact({ id: 'wxid_linju_bot', name: BOT_NAME })
const people = {
  wangdajie: mocker.createContact({ id: 'wxid_wangdajie', name: '王大姐' }),
  lishifu: mocker.createContact({ id: 'wxid_lishifu', name: '李师傅' }),
  zhaoayi: mocker.createContact({ id: 'wxid_zhaoayi', name: '赵阿姨' }),
  liuzhuren: mocker.createContact({ id: 'wxid_liuzhuren', name: '刘主任' }),
  xiaochen: mocker.createContact({ id: 'wxid_xiaochen', name: '小陈' }),
  // A member who will try to pass for the committee (tests/reliability/test_spoofing.py).
  lurenjia: mocker.createContact({ id: 'wxid_lurenjia', name: '路人甲' }),
}
const ids = (...cs) => cs.map(c => c.id)
const rooms = {
  leaders: mocker.createRoom({
    id: '20001001@chatroom',
    topic: '松涛里邻长群',
    memberIdList: [bot.id, ...ids(people.wangdajie, people.lishifu, people.zhaoayi, people.liuzhuren)],
  }),
  committee: mocker.createRoom({
    id: '20001002@chatroom',
    topic: '书院路社区两委群',
    memberIdList: [bot.id, ...ids(people.liuzhuren, people.xiaochen)],
  }),
  unknown: mocker.createRoom({
    id: '20001003@chatroom',
    topic: '幸福里楼栋长群',
    memberIdList: [bot.id, ...ids(people.zhaoayi, people.lishifu)],
  }),
  hostile: mocker.createRoom({
    id: '20001009@chatroom',
    topic: '路人甲的小群',
    memberIdList: [bot.id, ...ids(people.lurenjia, people.lishifu)],
  }),
}
const originalTopics = Object.fromEntries(Object.entries(rooms).map(([k, r]) => [k, r.payload.topic]))
const originalNames = Object.fromEntries(Object.entries(people).map(([k, c]) => [k, c.payload.name]))

function findRoom (id) {
  const r = Object.values(rooms).find(x => x.id === id)
  if (!r) throw new HttpError(400, `unknown room ${id}`)
  return r
}

function findContact (id) {
  const c = Object.values(people).find(x => x.id === id)
  if (!c) throw new HttpError(400, `unknown contact ${id}`)
  return c
}

function renameRoom (room, topic, by) {
  if (room.payload.topic === topic) return
  room.topic(topic).by(by)  // emits room-topic, then changes the payload
  log('room renamed', room.id, topic)
}

function renameContact (contact, name) {
  contact.payload.name = name
  mocker.contactPayload(contact.id, contact.payload)
  log('contact renamed', contact.id, name)
}

// Log the bot in every time the puppet starts (the service client stops and restarts it on connect).
mocker.use(m => {
  m.login(bot)
  return () => {}
})

// ---------------------------------------------------------------- what the bot sends

let seq = 0
let sent = []

function conversationFields (conversationId) {
  return /@chatroom$/.test(conversationId) || /@/.test(conversationId)
    ? { roomId: conversationId, contactId: null }
    : { roomId: null, contactId: conversationId }
}

// PuppetMock drops the mention list and returns no message id; wrap its send methods to record exactly
// what arrived over gRPC, and return the id of the message the mock creates (as a real puppet does).
function newestMessageIdFrom (talkerId, before) {
  let found
  for (const [id, payload] of mocker.cacheMessagePayload) {
    if (!before.has(id) && payload.talkerId === talkerId) found = id
  }
  return found
}

// POST /server/stop {"onNextSend": true}: the gateway goes away in the middle of the bot's next send.
// POST /sends/refuse {"refuse": true}: it fails every send (and counts them) until told otherwise.
let stopOnNextSend = false
let refuseSends = false
let refusedSends = 0
let delayNextSendMs = 0
async function maybeGoAway () {
  if (delayNextSendMs) {
    const ms = delayNextSendMs
    delayNextSendMs = 0
    log(`the gateway holds a send for ${ms} ms`)
    await new Promise(resolve => setTimeout(resolve, ms))
  }
  if (refuseSends) {
    refusedSends += 1
    log('the gateway refuses a send', refusedSends)
    throw new Error('the puppet gateway refused the send')
  }
  if (!stopOnNextSend) return
  stopOnNextSend = false
  log('the gateway goes away during a send')
  setImmediate(() => stopServer())
  throw new Error('the puppet gateway went away')
}

const originalSendText = puppet.messageSendText.bind(puppet)
puppet.messageSendText = async (conversationId, text, mentionIdList) => {
  await maybeGoAway()
  const before = new Set(mocker.cacheMessagePayload.keys())
  await originalSendText(conversationId, text, mentionIdList)
  const id = newestMessageIdFrom(bot.id, before) || randomUUID()
  seq += 1
  const record = {
    seq, id, ...conversationFields(conversationId), conversationId, text,
    mentionIds: [...(mentionIdList || [])], file: null, time: Date.now(),
  }
  sent.push(record)
  log('bot sent text', JSON.stringify(record))
  return id
}

const originalSendFile = puppet.messageSendFile.bind(puppet)
puppet.messageSendFile = async (conversationId, fileBox) => {
  await maybeGoAway()
  let size = null
  try {
    size = (await fileBox.toBuffer()).length
  } catch (e) {
    log('could not read the file the bot sent:', e.message)
  }
  const before = new Set(mocker.cacheMessagePayload.keys())
  await originalSendFile(conversationId, fileBox)
  const id = newestMessageIdFrom(bot.id, before) || randomUUID()
  seq += 1
  const record = {
    seq, id, ...conversationFields(conversationId), conversationId, text: null, mentionIds: [],
    file: { name: fileBox.name, mediaType: fileBox.mediaType || null, size }, time: Date.now(),
  }
  sent.push(record)
  log('bot sent file', JSON.stringify(record))
  return id
}

// ---------------------------------------------------------------- injecting messages

const KIND_TYPES = {
  text: PUPPET.types.Message.Text,
  image: PUPPET.types.Message.Image,
  voice: PUPPET.types.Message.Audio,
  video: PUPPET.types.Message.Video,
  file: PUPPET.types.Message.Attachment,
  emoticon: PUPPET.types.Message.Emoticon,
  red_packet: PUPPET.types.Message.RedEnvelope,
  link: PUPPET.types.Message.Url,
  mini_program: PUPPET.types.Message.MiniProgram,
}

function injectMessage (body) {
  const kind = body.kind || 'text'
  const type = KIND_TYPES[kind]
  if (type === undefined) throw new HttpError(400, `unknown kind ${kind}`)
  if (!body.from || !mocker.cacheContactPayload.has(body.from)) throw new HttpError(400, `unknown contact ${body.from}`)
  if (body.room && !mocker.cacheRoomPayload.has(body.room)) throw new HttpError(400, `unknown room ${body.room}`)
  if (!puppet.isLoggedIn) throw new HttpError(409, 'the puppet is not logged in')

  let text = body.text ?? ''
  const mentionIdList = [...(body.mentions || [])]
  if (body.atBot) {
    text = `@${BOT_NAME}${AT_SEPARATOR}${text}`
    if (!mentionIdList.includes(bot.id)) mentionIdList.push(bot.id)
  }
  const payload = {
    id: randomUUID(),
    talkerId: body.from,
    timestamp: Date.now(),
    type,
    text: kind === 'text' ? text : (body.text ?? ''),
  }
  if (kind === 'image') payload.filename = 'photo.jpg'
  if (kind === 'file') payload.filename = body.filename || '报修照片.pdf'
  const file = (kind === 'voice' || kind === 'file') && body.file ? body.file : null
  if (file) {
    if (typeof file.base64 !== 'string' || !file.base64) throw new HttpError(400, 'file.base64 is required')
    payload.filename = file.name || (kind === 'voice' ? 'voice.silk' : payload.filename)
  }
  if (body.room) {
    payload.roomId = body.room
    payload.mentionIdList = mentionIdList
  } else {
    payload.listenerId = bot.id
  }
  // The same two steps as ContactMock#say().to(): create the message, then emit its id.
  const msg = mocker.MessageMock.create(payload)
  if (file) {
    // What ContactMock#say(fileBox) stores: the FileBox's JSON (type 1 = FileBoxType.Base64), which
    // PuppetMock#messageFile turns back into a FileBox for the gateway to serve.
    mocker.cacheFileBoxPayload.set(msg.id, { type: 1, boxType: 1, name: payload.filename, base64: file.base64, metadata: {} })
  }
  puppet.emit('message', { messageId: msg.id })
  log('injected', JSON.stringify(payload), file ? `with a file of ${file.base64.length} base64 characters` : '')
  return { id: msg.id }
}

// ---------------------------------------------------------------- the gRPC server

let grpcPort = Number(arg('grpc-port', 'GRPC_PORT', '0'))
let server = null

async function startServer () {
  if (server) return
  const s = new PuppetServer({ endpoint: `${HOST}:${grpcPort}`, puppet, token: TOKEN, tls: { disable: true } })
  await s.start()
  server = s
  log(`gRPC puppet server listening on ${HOST}:${grpcPort}`)
}

async function stopServer () {
  if (!server) return
  const s = server
  server = null
  await s.stop()
  log('gRPC puppet server stopped')
}

// ---------------------------------------------------------------- the HTTP control API

class HttpError extends Error {
  constructor (status, message) {
    super(message)
    this.status = status
  }
}

function readJson (req) {
  return new Promise((resolve, reject) => {
    const chunks = []
    req.on('data', c => chunks.push(c))
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8')
      if (!raw) return resolve({})
      try {
        resolve(JSON.parse(raw))
      } catch (e) {
        reject(new HttpError(400, 'invalid JSON: ' + e.message))
      }
    })
    req.on('error', reject)
  })
}

function state () {
  return {
    bot: { id: bot.id, name: BOT_NAME },
    contacts: Object.fromEntries(Object.entries(people).map(([k, c]) => [k, { id: c.id, name: c.payload.name }])),
    rooms: Object.fromEntries(Object.entries(rooms).map(([k, r]) => [k, {
      id: r.id, topic: r.payload.topic, memberIdList: r.payload.memberIdList,
    }])),
  }
}

async function route (req, url) {
  const key = `${req.method} ${url.pathname}`
  switch (key) {
    case 'GET /health':
      return {
        ready: true, grpc: server ? 'running' : 'stopped', loggedIn: puppet.isLoggedIn, botId: bot.id, grpcPort,
        refusing: refuseSends, refused: refusedSends,
      }
    case 'GET /state':
      return state()
    case 'POST /message':
      return injectMessage(await readJson(req))
    case 'GET /sent': {
      const since = Number(url.searchParams.get('since') || 0)
      return { seq, sent: sent.filter(r => r.seq > since) }
    }
    case 'POST /reset':
      sent = []
      stopOnNextSend = false
      refuseSends = false
      refusedSends = 0
      delayNextSendMs = 0
      for (const [k, topic] of Object.entries(originalTopics)) renameRoom(rooms[k], topic, bot)
      for (const [k, name] of Object.entries(originalNames)) {
        if (people[k].payload.name !== name) renameContact(people[k], name)
      }
      return { seq }
    case 'POST /room/topic': {
      const body = await readJson(req)
      const room = findRoom(body.room)
      renameRoom(room, String(body.topic), body.by ? findContact(body.by) : bot)
      return { id: room.id, topic: room.payload.topic }
    }
    case 'POST /contact/name': {
      const body = await readJson(req)
      const contact = findContact(body.contact)
      renameContact(contact, String(body.name))
      return { id: contact.id, name: contact.payload.name }
    }
    case 'POST /server/stop': {
      const body = await readJson(req)
      if (body.onNextSend) {
        stopOnNextSend = true
        return { grpc: 'running', stopOnNextSend }
      }
      await stopServer()
      return { grpc: 'stopped' }
    }
    case 'POST /server/start':
      await startServer()
      return { grpc: 'running' }
    case 'POST /sends/refuse': {
      const body = await readJson(req)
      refuseSends = body.refuse !== false
      log(refuseSends ? 'the gateway refuses every send from now on' : 'the gateway accepts sends again')
      return { refusing: refuseSends, refused: refusedSends }
    }
    case 'POST /sends/delay': {
      const body = await readJson(req)
      delayNextSendMs = Math.max(0, Number(body.ms) || 0)
      return { delayNextSendMs }
    }
    case 'POST /puppet/error': {
      // What a puppet emits when something goes wrong on its side (wechaty-puppet's EventErrorPayload).
      const body = await readJson(req)
      const payload = body.data !== undefined ? { data: String(body.data) } : { gerror: String(body.gerror ?? 'mock puppet error') }
      puppet.emit('error', payload)
      return { emitted: payload }
    }
    case 'POST /shutdown':
      setImmediate(() => shutdown('shutdown requested'))
      return { bye: true }
    default:
      throw new HttpError(404, `no route ${key}`)
  }
}

const control = http.createServer(async (req, res) => {
  const url = new URL(req.url, `http://${HOST}`)
  let status = 200
  let body
  try {
    body = await route(req, url)
  } catch (e) {
    status = e.status || 500
    body = { error: e.message }
    if (status === 500) log('control API error', e.stack)
  }
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' })
  res.end(JSON.stringify(body))
})

// ---------------------------------------------------------------- lifecycle

let shuttingDown = false
async function shutdown (why) {
  if (shuttingDown) return
  shuttingDown = true
  log('shutting down:', why)
  const force = setTimeout(() => process.exit(0), 3000)
  force.unref()
  try {
    control.close()
    await stopServer()
    await puppet.stop()
  } catch (e) {
    log('error while shutting down', e.message)
  }
  process.exit(0)
}

process.on('SIGTERM', () => shutdown('SIGTERM'))
process.on('SIGINT', () => shutdown('SIGINT'))
// With --exit-on-stdin-close (the pytest fixture) the test process holds our stdin open; when it goes away,
// so do we, even if it was killed before it could stop us.
if (process.argv.includes('--exit-on-stdin-close')) {
  process.stdin.on('end', () => shutdown('stdin closed'))
  process.stdin.on('error', () => shutdown('stdin error'))
  process.stdin.resume()
}

async function main () {
  if (!grpcPort) grpcPort = await freePort()
  const httpPort = Number(arg('http-port', 'HTTP_PORT', '0'))
  await puppet.start()
  await startServer()
  await new Promise((resolve, reject) => {
    control.once('error', reject)
    control.listen(httpPort, HOST, resolve)
  })
  const deadline = Date.now() + 10000
  while (!puppet.isLoggedIn && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
  if (!puppet.isLoggedIn) throw new Error('the mock did not log in the bot')
  const ready = {
    grpcEndpoint: `${HOST}:${grpcPort}`,
    grpcPort,
    httpPort: control.address().port,
    token: TOKEN,
    ...state(),
  }
  console.log(`HARNESS_READY ${JSON.stringify(ready)}`)
}

main().catch(e => {
  console.error('harness failed to start:', e)
  process.exit(1)
})
