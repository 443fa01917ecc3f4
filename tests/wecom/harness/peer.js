// The conformance peer: WeCom's official smart-robot SDK (@wecom/aibot-node-sdk, pinned in package.json)
// connects to linju's WeCom protocol test server (tests/wecom/server.py), authenticates, heartbeats, receives a
// message, answers it on its req_id, pushes a markdown message and a file, and answers an enter_chat event.
//
// Configured by the environment: WECOM_URL (the server, e.g. ws://127.0.0.1:PORT: the SDK's documented `wsUrl`
// option), WECOM_BOT_ID, WECOM_SECRET, WECOM_HEARTBEAT_MS. Prints one JSON line per step on stdout and exits 0
// once every step was acknowledged by the server; exits 1 on an error or after WECOM_DEADLINE_MS.
'use strict';

const { WSClient } = require('@wecom/aibot-node-sdk');

const say = (step, extra = {}) => process.stdout.write(JSON.stringify({ step, ...extra }) + '\n');
const quiet = { debug() {}, info() {}, warn: (...a) => console.error('warn', ...a), error: (...a) => console.error('error', ...a) };

const client = new WSClient({
  botId: process.env.WECOM_BOT_ID,
  secret: process.env.WECOM_SECRET,
  wsUrl: process.env.WECOM_URL,
  heartbeatInterval: Number(process.env.WECOM_HEARTBEAT_MS || 300),
  reconnectInterval: 200,
  maxReconnectAttempts: 3,
  maxAuthFailureAttempts: 1,
  logger: quiet,
});

const done = { reply: false, push: false, file: false, welcome: false };
const finishIfDone = () => {
  if (Object.values(done).every(Boolean)) {
    say('done');
    client.disconnect();
    process.exit(0);
  }
};
const fail = (what, err) => {
  say('error', { what, error: err && (err.message || JSON.stringify(err)) });
  process.exit(1);
};

client.on('authenticated', () => say('authenticated'));
client.on('error', (err) => fail('client', err));

client.on('message.text', async (frame) => {
  const { chatid, msgid } = frame.body;
  say('message', { req_id: frame.headers.req_id, msgid, text: frame.body.text.content });
  try {
    const ack = await client.replyStream(frame, `stream-${msgid}`, `收到：${frame.body.text.content}`, true);
    say('replied', { req_id: ack.headers.req_id, errcode: ack.errcode });
    done.reply = true;

    const pushed = await client.sendMessage(chatid || frame.body.from.userid, {
      msgtype: 'markdown',
      markdown: { content: '**主动推送** 一条测试消息' },
    });
    say('pushed', { errcode: pushed.errcode });
    done.push = true;

    const media = await client.uploadMedia(Buffer.from('linju conformance file\n'.repeat(100)), {
      type: 'file',
      filename: 'conformance.txt',
    });
    const sent = await client.sendMediaMessage(chatid || frame.body.from.userid, 'file', media.media_id);
    say('file', { media_id: media.media_id, errcode: sent.errcode });
    done.file = true;
  } catch (err) {
    fail('reply', err);
  }
  finishIfDone();
});

client.on('event.enter_chat', async (frame) => {
  try {
    const ack = await client.replyWelcome(frame, { msgtype: 'text', text: { content: '您好' } });
    say('welcomed', { req_id: ack.headers.req_id, errcode: ack.errcode });
    done.welcome = true;
  } catch (err) {
    fail('welcome', err);
  }
  finishIfDone();
});

setTimeout(() => fail('deadline', new Error(`not done: ${JSON.stringify(done)}`)), Number(process.env.WECOM_DEADLINE_MS || 20000));
client.connect();
