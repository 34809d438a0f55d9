// Issue 6, search and memory through the server: GET /api/search over the
// caller's own messages (full-text without an embedding model, hybrid with
// one), and per-session memory that puts relevant messages from the user's
// other sessions into the prompt, listed in the reply's metadata.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  api, createSession, makeDataDir, missingFixture, register, removeDir, SHARED, sleep,
  startServer,
} from './helpers.js';

const EMBED_MODEL = SHARED ? path.join(SHARED, 'oracle', 'models', 'nomic-bert-v512-F16.gguf') : '';
const skip = missingFixture();
const st = { dataDir: null, server: null, alice: null, bob: null };

async function chat(user, session, message) {
  const r = await api(st.server.url, 'POST', '/api/chat', {
    token: user.token,
    body: { session_id: session.id, message, user_id: user.user_id, max_tokens: 8 },
  });
  assert.equal(r.status, 200, r.text);
  return r.json;
}

async function messages(user, session) {
  const r = await api(st.server.url, 'GET', `/api/sessions/${session.id}/messages`, { token: user.token });
  assert.equal(r.status, 200, r.text);
  return r.json.messages;
}

async function search(user, query, extra = '') {
  const r = await api(st.server.url, 'GET', `/api/search?q=${encodeURIComponent(query)}${extra}`, {
    token: user.token,
  });
  return r;
}

describe('search and memory', { skip: skip || false }, () => {
  const s = {};

  before(async () => {
    st.dataDir = makeDataDir();
    st.server = await startServer({ dataDir: st.dataDir });
    st.alice = await register(st.server.url, 'search-alice');
    st.bob = await register(st.server.url, 'search-bob');
    s.a1 = await createSession(st.server.url, st.alice, { title: 'Garden' });
    s.a2 = await createSession(st.server.url, st.alice, { title: 'Travel' });
    s.b1 = await createSession(st.server.url, st.bob, { title: 'Bob' });
    await chat(st.alice, s.a1, 'my secret password is pineapple');
    await chat(st.alice, s.a2, 'we took the night train to Vienna');
    await chat(st.bob, s.b1, 'bob also likes pineapple and trains');
  });

  after(async () => {
    if (st.server) await st.server.stop('SIGTERM', 20000).catch(() => {});
    if (st.dataDir) removeDir(st.dataDir);
  });

  test('full-text search finds a word, only in the caller\'s messages, and says so', async () => {
    const r = await search(st.alice, 'pineapple');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.mode, 'full_text');
    assert.equal(r.json.embedding_model, null);
    const users = r.json.results.filter((h) => h.role === 'user');
    assert.equal(users.length, 1);
    const hit = users[0];
    assert.equal(hit.session_id, s.a1.id);
    assert.equal(hit.session_title, 'Garden');
    assert.match(hit.snippet, /\*\*pineapple\*\*/);
    assert.ok(hit.score > 0);
    assert.equal(hit.similarity, null);
    assert.ok(hit.created_at && hit.message_id);
    for (const h of r.json.results) assert.ok([s.a1.id, s.a2.id].includes(h.session_id));
    // Bob finds his own and never Alice's
    const b = await search(st.bob, 'pineapple');
    assert.equal(b.status, 200);
    assert.ok(b.json.results.length >= 1);
    for (const h of b.json.results) assert.equal(h.session_id, s.b1.id);
  });

  test('session filter, limit and bad input', async () => {
    let r = await search(st.alice, 'train', `&session_id=${s.a2.id}`);
    assert.equal(r.status, 200, r.text);
    assert.ok(r.json.results.length >= 1);
    for (const h of r.json.results) assert.equal(h.session_id, s.a2.id);
    r = await search(st.alice, 'pineapple', `&session_id=${s.a2.id}`);
    assert.equal(r.json.results.filter((h) => h.role === 'user').length, 0);
    // another user's session is not found, like one that does not exist
    r = await search(st.alice, 'pineapple', `&session_id=${s.b1.id}`);
    assert.equal(r.status, 404, r.text);
    r = await search(st.alice, 'the', '&limit=1');
    assert.equal(r.status, 200);
    assert.ok(r.json.results.length <= 1);
    assert.equal((await search(st.alice, 'x', '&limit=0')).status, 400);
    assert.equal((await search(st.alice, 'x', '&limit=abc')).status, 400);
    assert.equal((await search(st.alice, '')).status, 400);
    assert.equal((await search(st.alice, 'x'.repeat(2000))).status, 400);
    // operators and quotes are words, never syntax
    assert.equal((await search(st.alice, "'); DROP TABLE users; -- & | ! :*")).status, 200);
    const anon = await api(st.server.url, 'GET', '/api/search?q=pineapple');
    assert.equal(anon.status, 401);
  });

  test('memory brings a past message from another session into the turn', async () => {
    // off by default: no "memory" in the reply's metadata
    const s3 = await createSession(st.server.url, st.alice, { title: 'Memory' });
    await chat(st.alice, s3, 'hello there');
    let msgs = await messages(st.alice, s3);
    assert.equal(msgs.at(-1).role, 'assistant');
    assert.equal(msgs.at(-1).metadata.memory, undefined);

    // bad settings are refused before anything is written
    for (const bad of [{ top_k: 0 }, { top_k: 'x' }, { enabled: 1 }, { max_tokens: 5 }, { colour: 'red' }, 'yes']) {
      const r = await api(st.server.url, 'PATCH', `/api/sessions/${s3.id}`, {
        token: st.alice.token, body: { memory: bad },
      });
      assert.equal(r.status, 400, `${JSON.stringify(bad)}: ${r.text}`);
    }
    // Bob cannot touch Alice's session
    let r = await api(st.server.url, 'PATCH', `/api/sessions/${s3.id}`, {
      token: st.bob.token, body: { memory: { enabled: true } },
    });
    assert.equal(r.status, 404);

    r = await api(st.server.url, 'PATCH', `/api/sessions/${s3.id}`, {
      token: st.alice.token, body: { memory: { enabled: true, top_k: 2, max_tokens: 128 } },
    });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.metadata.memory, { enabled: true, top_k: 2, max_tokens: 128 });
    // a partial update keeps the other fields
    r = await api(st.server.url, 'PATCH', `/api/sessions/${s3.id}`, {
      token: st.alice.token, body: { memory: { top_k: 3 } },
    });
    assert.deepEqual(r.json.metadata.memory, { enabled: true, top_k: 3, max_tokens: 128 });

    await chat(st.alice, s3, 'what is my secret password');
    msgs = await messages(st.alice, s3);
    const reply = msgs.at(-1);
    assert.equal(reply.role, 'assistant');
    assert.ok(Array.isArray(reply.metadata.memory), JSON.stringify(reply.metadata));
    // the past message with the words, from another session
    const past = (await messages(st.alice, s.a1)).find((m) => m.role === 'user');
    assert.ok(reply.metadata.memory.includes(past.id), JSON.stringify(reply.metadata.memory));
    assert.ok(reply.metadata.memory.length <= 3);
    // never this session's own messages, never Bob's
    const own = new Set(msgs.map((m) => m.id));
    const bobs = new Set((await messages(st.bob, s.b1)).map((m) => m.id));
    for (const id of reply.metadata.memory) {
      assert.ok(!own.has(id));
      assert.ok(!bobs.has(id));
    }

    // turned off: nothing retrieved
    await api(st.server.url, 'PATCH', `/api/sessions/${s3.id}`, {
      token: st.alice.token, body: { memory: { enabled: false } },
    });
    await chat(st.alice, s3, 'what is my secret password');
    msgs = await messages(st.alice, s3);
    assert.equal(msgs.at(-1).metadata.memory, undefined);
  });
});

describe('hybrid search with an embedding model', { skip: skip || (!existsSync(EMBED_MODEL) && 'no embedding model') || false }, () => {
  const h = { dataDir: null, server: null };

  after(async () => {
    if (h.server) await h.server.stop('SIGTERM', 20000).catch(() => {});
    if (h.dataDir) removeDir(h.dataDir);
  });

  test('the response says hybrid and gives cosine similarities', async () => {
    h.dataDir = makeDataDir();
    // the model makes 256-dimension vectors: the real[] fallback stores
    // them (pgvector's column is vector(768))
    h.server = await startServer({
      dataDir: h.dataDir, args: ['--vector-backend', 'array', '--embedding-model', EMBED_MODEL],
    });
    st.server = h.server;
    const user = await register(h.server.url, 'hybrid-user');
    const other = await register(h.server.url, 'hybrid-other');
    const a = await createSession(h.server.url, user);
    const b = await createSession(h.server.url, other);
    await chat(user, a, 'the lighthouse keeper fed the seagulls');
    await chat(other, b, 'the lighthouse keeper fed the seagulls');
    // wait until the model is loaded and the messages are embedded
    let r;
    for (let i = 0; i < 300; i++) {
      r = await search(user, 'lighthouse keeper');
      if (r.status === 200 && r.json.mode === 'hybrid' &&
          r.json.results.every((x) => x.similarity !== null)) break;
      await sleep(200);
    }
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.mode, 'hybrid');
    assert.ok(r.json.embedding_model);
    assert.ok(r.json.results.length >= 1);
    for (const x of r.json.results) {
      assert.equal(x.session_id, a.id);
      assert.ok(x.similarity >= -1 && x.similarity <= 1.000001);
    }
    // the message with both words ranks first: it is in both lists
    assert.equal(r.json.results[0].role, 'user');
  });
});
