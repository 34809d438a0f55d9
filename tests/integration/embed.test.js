// Issue 6, the server half of embeddings: `llamachat serve
// --embedding-model` embeds every stored message off the generation path,
// backfills rows stored without one, and serves /v1/embeddings (official
// `openai` client) and /api/embed (official `ollama` client) with the same
// vectors as `llamachat embed`.
//
// The embedding model is the oracle's nomic-bert (256 dimensions, random
// weights: the vectors mean nothing, but they are the model's), so the
// database must use the real[] fallback, which stores any size: every
// server here asks for it (--vector-backend array), also where PostgreSQL
// has pgvector. pgvector.test.js covers the pgvector path.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { Ollama } from 'ollama';
import {
  api, assertClose, cliEmbed, createSession, makeDataDir, missingFixture, MODEL, parseVector,
  register, removeDir, SHARED, sleep, sql, startServer, waitEmbedded,
} from './helpers.js';

const EMBED_MODEL = SHARED ? path.join(SHARED, 'oracle', 'models', 'nomic-bert-v512-F16.gguf') : '';
const EMBED_NAME = 'nomic-bert-v512-F16';
const CHAT_MODEL = 'stories260K';
// its name says nomic: stored messages are embedded as documents
const DOC_PREFIX = 'search_document: ';
const ARRAY = ['--vector-backend', 'array'];

function missing() {
  const m = missingFixture();
  if (m) return m;
  if (!existsSync(EMBED_MODEL)) return `the embedding model ${EMBED_MODEL} is absent`;
  try { execFileSync('psql', ['--version']); } catch { return 'psql is not installed'; }
  return null;
}
const skip = missing();

const st = { dataDir: null, server: null, user: null, session: null };

async function chat(message) {
  const r = await api(st.server.url, 'POST', '/api/chat', {
    token: st.user.token,
    body: { session_id: st.session.id, message, user_id: st.user.user_id, max_tokens: 12 },
  });
  assert.equal(r.status, 200, r.text);
  return r.json;
}

describe('embeddings in the server', { skip: skip || false }, () => {
  before(async () => {
    st.dataDir = makeDataDir();
  });

  after(async () => {
    if (st.server) await st.server.stop('SIGTERM', 20000).catch(() => {});
    if (st.dataDir) removeDir(st.dataDir);
  });

  test('messages stored without an embedding model are backfilled at start-up', async () => {
    // 1. no embedding model: the turn is stored without embeddings
    st.server = await startServer({ dataDir: st.dataDir, args: ARRAY });
    st.user = await register(st.server.url, 'embed-user');
    st.session = await createSession(st.server.url, st.user);
    const first = await chat('Once upon a time there was a dog');
    assert.deepEqual(sql(st.server.dbUrl, 'SELECT count(content_embedding) FROM chat_messages'), ['0']);
    // without the model, the embedding APIs say so
    const r = await api(st.server.url, 'POST', '/v1/embeddings', {
      token: st.user.token, body: { model: CHAT_MODEL, input: 'x' },
    });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error.code, 'model_not_embedding');
    assert.equal((await st.server.stop('SIGTERM', 20000)).code, 0);

    // 2. restarted with one: the backfill embeds both rows
    st.server = await startServer({ dataDir: st.dataDir, args: [...ARRAY, '--embedding-model', EMBED_MODEL] });
    await waitEmbedded(st.server.dbUrl, 2);
    // the stored vector is the model's vector of the document-prefixed text
    const [row] = sql(st.server.dbUrl,
      `SELECT content_embedding FROM chat_messages WHERE id = '${first.user_message_id}'`);
    assertClose(parseVector(row), cliEmbed(EMBED_MODEL, 'Once upon a time there was a dog', DOC_PREFIX));
  });

  test('every new message (user and assistant) gets its embedding', async () => {
    const turn = await chat('The cat sat on the mat');
    await waitEmbedded(st.server.dbUrl, 4);
    const rows = sql(st.server.dbUrl,
      `SELECT role, array_length(content_embedding, 1) FROM chat_messages
        WHERE id IN ('${turn.user_message_id}', '${turn.message_id}') ORDER BY role`);
    assert.deepEqual(rows, ['assistant|256', 'user|256']);
    // this server wrote all four: two by the backfill, two as they came
    const metrics = await api(st.server.url, 'GET', '/metrics');
    const m = /^llamachat_embeddings_total (\d+)/m.exec(metrics.text);
    assert.ok(m, metrics.text);
    assert.ok(Number(m[1]) >= 4, m[0]);
    const [reply] = sql(st.server.dbUrl,
      `SELECT content FROM chat_messages WHERE id = '${turn.message_id}'`);
    const [vec] = sql(st.server.dbUrl,
      `SELECT content_embedding FROM chat_messages WHERE id = '${turn.message_id}'`);
    // the reply's text as stored, embedded by the CLI (a reply that is
    // empty or ends in whitespace would be trimmed by psql: skip those)
    if (reply && reply === reply.trim()) assertClose(parseVector(vec), cliEmbed(EMBED_MODEL, reply, DOC_PREFIX));
  });

  test('the periodic backfill embeds rows written behind the server\'s back', async () => {
    // restart with a one-second backfill period, then insert a row directly
    assert.equal((await st.server.stop('SIGTERM', 20000)).code, 0);
    st.server = await startServer({
      dataDir: st.dataDir, args: [...ARRAY, '--embedding-model', EMBED_MODEL, '--embedding-backfill', '1'],
    });
    await sleep(1500); // past the start-up pass: only a periodic one can find it
    sql(st.server.dbUrl, `INSERT INTO chat_messages (session_id, role, content)
      VALUES ('${st.session.id}', 'user', 'inserted by hand')`);
    await waitEmbedded(st.server.dbUrl, 5);
    const [row] = sql(st.server.dbUrl,
      "SELECT content_embedding FROM chat_messages WHERE content = 'inserted by hand'");
    assertClose(parseVector(row), cliEmbed(EMBED_MODEL, 'inserted by hand', DOC_PREFIX));
  });

  test('/v1/embeddings through the openai client equals `llamachat embed`', async () => {
    const client = new OpenAI({ baseURL: `${st.server.url}/v1`, apiKey: st.user.token, maxRetries: 0 });
    const texts = ['hello world', 'A second, longer text about embeddings.'];
    // the client asks for base64 by default and decodes it
    const res = await client.embeddings.create({ model: EMBED_NAME, input: texts });
    assert.equal(res.object, 'list');
    assert.equal(res.data.length, 2);
    for (let i = 0; i < texts.length; i++) {
      assert.equal(res.data[i].index, i);
      assertClose(Array.from(res.data[i].embedding), cliEmbed(EMBED_MODEL, texts[i]));
    }
    assert.ok(res.usage.prompt_tokens > 0);
    const flt = await client.embeddings.create({ model: EMBED_NAME, input: 'hello world', encoding_format: 'float' });
    assertClose(flt.data[0].embedding, cliEmbed(EMBED_MODEL, 'hello world'));
    // the chat model cannot embed; an unknown model is 404; a wrong size 400
    await assert.rejects(client.embeddings.create({ model: CHAT_MODEL, input: 'x' }),
      (e) => { assert.equal(e.status, 400); assert.equal(e.code, 'model_not_embedding'); return true; });
    await assert.rejects(client.embeddings.create({ model: 'nope', input: 'x' }),
      (e) => { assert.equal(e.status, 404); return true; });
    await assert.rejects(client.embeddings.create({ model: EMBED_NAME, input: 'x', dimensions: 12 }),
      (e) => { assert.equal(e.status, 400); return true; });
    await assert.rejects(client.embeddings.create({ model: EMBED_NAME, input: [] }),
      (e) => { assert.equal(e.status, 400); return true; });
  });

  test('/api/embed and /api/embeddings through the ollama client', async () => {
    const o = new Ollama({ host: st.server.url, headers: { Authorization: `Bearer ${st.user.token}` } });
    const res = await o.embed({ model: EMBED_NAME, input: ['hello world', 'goodbye'] });
    assert.equal(res.embeddings.length, 2);
    assertClose(res.embeddings[0], cliEmbed(EMBED_MODEL, 'hello world'));
    assertClose(res.embeddings[1], cliEmbed(EMBED_MODEL, 'goodbye'));
    assert.ok(res.prompt_eval_count > 0);
    const legacy = await o.embeddings({ model: `${EMBED_NAME}:latest`, prompt: 'hello world' });
    assertClose(legacy.embedding, cliEmbed(EMBED_MODEL, 'hello world'));
    await assert.rejects(o.embed({ model: CHAT_MODEL, input: 'x' }),
      (e) => { assert.equal(e.status_code, 400); assert.match(e.error, /embedding|embeddings/); return true; });
    // a text beyond the context: cut by default, refused with truncate false
    const long = 'word '.repeat(2000);
    const cut = await o.embed({ model: EMBED_NAME, input: long });
    assert.equal(cut.embeddings[0].length, 256);
    await assert.rejects(o.embed({ model: EMBED_NAME, input: long, truncate: false }),
      (e) => { assert.equal(e.status_code, 400); return true; });
  });

  test('a generative model as --embedding-model is refused at start-up', async () => {
    const dir = makeDataDir();
    try {
      // the chat model may be ready (and /health 200) before the embedding
      // model fails: then the server exits right after
      let log;
      try {
        const s = await startServer({ dataDir: dir, args: [...ARRAY, '--embedding-model', MODEL] });
        const deadline = Date.now() + 30000;
        while (s.proc.exitCode === null && Date.now() < deadline) await sleep(100);
        log = s.log();
        assert.equal(s.proc.exitCode, 1, log);
      } catch (e) {
        log = e.message;
      }
      assert.match(log, /cannot load the embedding model: .*not an embedding model/);
    } finally {
      removeDir(dir);
    }
  });

  test('the server stops cleanly with its embedding service', async () => {
    const e = await st.server.stop('SIGTERM', 20000);
    st.server = null;
    assert.equal(e.code, 0);
  });
});
