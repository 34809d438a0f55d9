// Issue 6 on pgvector: a server whose database stores embeddings in
// pgvector's vector(768) with the HNSW index (migration 0001 picks it when
// PostgreSQL has the extension). Messages are embedded and backfilled into
// it, /v1/embeddings is served as on the real[] fallback, /api/search ranks
// by pgvector's cosine; a model of another size and a --vector-backend that
// the database does not have are refused at start-up with a clear error.
//
// The encoder is a random-weight BERT-base shape (768 dimensions, no task
// prefix) written by tools/gen_model, built beside the binary. The pgvector
// tests skip, with the reason, where PostgreSQL has no pgvector (Debian 12
// does not package it); the --vector-backend test runs everywhere.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import {
  api, assertClose, BIN, cliEmbed, createSession, makeDataDir, missingFixture, MODEL, parseVector,
  register, removeDir, SHARED, sleep, sql, startServer, waitEmbedded,
} from './helpers.js';

const GEN_MODEL = BIN ? path.join(path.dirname(BIN), 'gen_model') : '';
const SMALL_MODEL = SHARED ? path.join(SHARED, 'oracle', 'models', 'nomic-bert-v512-F16.gguf') : '';

function missing() {
  const m = missingFixture();
  if (m) return m;
  if (!existsSync(GEN_MODEL)) return `${GEN_MODEL} (tools/gen_model) is not built`;
  try { execFileSync('psql', ['--version']); } catch { return 'psql is not installed'; }
  return null;
}
const skip = missing();
/** Starts a server that must fail at start-up; its log. */
async function startFails(args, dataDir) {
  try {
    const s = await startServer({ dataDir, args });
    // the chat model may be ready before the embedding model fails
    const deadline = Date.now() + 30000;
    while (s.proc.exitCode === null && Date.now() < deadline) await sleep(100);
    const log = s.log();
    if (s.proc.exitCode === null) await s.stop('SIGTERM', 20000);
    assert.equal(s.proc.exitCode, 1, log);
    return log;
  } catch (e) {
    return e.message;
  }
}

describe('embeddings and search on pgvector', { skip: skip || false }, () => {
  const st = { dataDir: null, server: null, model: null, user: null, session: null, first: null };
  let noPgvector = null; // why the pgvector tests skip (pgvector or the encoder missing)

  before(async () => {
    st.dataDir = makeDataDir();
    st.model = path.join(st.dataDir, 'bert-768.gguf');
    try {
      execFileSync(GEN_MODEL, ['--preset', 'bert-base', '--type', 'q4_k_m', '-o', st.model], { stdio: 'pipe' });
    } catch (e) {
      noPgvector = `gen_model cannot write a bert-base encoder: ${e.stderr}`;
      return;
    }
    // the default (auto): pgvector when this PostgreSQL has it
    st.server = await startServer({ dataDir: st.dataDir });
    const [avail] = sql(st.server.dbUrl, "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'");
    if (avail === '0') {
      noPgvector = 'this PostgreSQL has no pgvector extension';
      return;
    }
    st.user = await register(st.server.url, 'pgv-user');
    st.session = await createSession(st.server.url, st.user);
    const r = await api(st.server.url, 'POST', '/api/chat', {
      token: st.user.token,
      body: { session_id: st.session.id, message: 'the lighthouse keeper fed the seagulls',
              user_id: st.user.user_id, max_tokens: 8 },
    });
    assert.equal(r.status, 200, r.text);
    st.first = r.json;
    assert.equal((await st.server.stop('SIGTERM', 20000)).code, 0);
    st.server = null;
  });

  after(async () => {
    if (st.server) await st.server.stop('SIGTERM', 20000).catch(() => {});
    if (st.dataDir) removeDir(st.dataDir);
  });

  test('auto picks pgvector: vector(768) with the HNSW index, recorded', async (t) => {
    if (noPgvector) return t.skip(noPgvector);
    st.server = await startServer({
      dataDir: st.dataDir, args: ['--vector-backend', 'pgvector', '--embedding-model', st.model],
    });
    const db = st.server.dbUrl;
    assert.deepEqual(sql(db, "SELECT value FROM llamachat_settings WHERE key = 'vector_backend'"), ['pgvector']);
    assert.deepEqual(sql(db, `SELECT format_type(atttypid, atttypmod) FROM pg_attribute
      WHERE attrelid = 'chat_messages'::regclass AND attname = 'content_embedding'`), ['vector(768)']);
    const [def] = sql(db, "SELECT indexdef FROM pg_indexes WHERE indexname = 'idx_chat_messages_embedding'");
    assert.match(def, /USING hnsw \(content_embedding vector_cosine_ops\)/);
  });

  test('the backfill fills vector(768) with the model\'s vectors', async (t) => {
    if (noPgvector) return t.skip(noPgvector);
    // the turn stored before the model was configured: 2 messages
    await waitEmbedded(st.server.dbUrl, 2);
    const [row] = sql(st.server.dbUrl,
      `SELECT content_embedding FROM chat_messages WHERE id = '${st.first.user_message_id}'`);
    assertClose(parseVector(row), cliEmbed(st.model, 'the lighthouse keeper fed the seagulls'));
  });

  test('new messages are embedded; search ranks them by pgvector\'s cosine', async (t) => {
    if (noPgvector) return t.skip(noPgvector);
    const r = await api(st.server.url, 'POST', '/api/chat', {
      token: st.user.token,
      body: { session_id: st.session.id, message: 'violet kites over the harbour',
              user_id: st.user.user_id, max_tokens: 8 },
    });
    assert.equal(r.status, 200, r.text);
    await waitEmbedded(st.server.dbUrl, 4);
    const s = await api(st.server.url, 'GET', `/api/search?q=${encodeURIComponent('violet kites over the harbour')}`,
      { token: st.user.token });
    assert.equal(s.status, 200, s.text);
    assert.equal(s.json.mode, 'hybrid');
    // the same text embeds to the same vector: cosine 1, first in both lists
    const top = s.json.results[0];
    assert.equal(top.message_id, r.json.user_message_id);
    assert.ok(Math.abs(top.similarity - 1) < 1e-5, String(top.similarity));
    for (const x of s.json.results) assert.ok(x.similarity >= -1 && x.similarity <= 1.000001);
  });

  test('/v1/embeddings is served as on the fallback', async (t) => {
    if (noPgvector) return t.skip(noPgvector);
    const client = new OpenAI({ baseURL: `${st.server.url}/v1`, apiKey: st.user.token, maxRetries: 0 });
    const res = await client.embeddings.create({ model: 'bert-768', input: ['harbour lights'] });
    assert.equal(res.data[0].embedding.length, 768);
    assertClose(res.data[0].embedding, cliEmbed(st.model, 'harbour lights'));
  });

  test('a model of another size, or --vector-backend array, is refused at start-up', async (t) => {
    if (noPgvector) return t.skip(noPgvector);
    assert.equal((await st.server.stop('SIGTERM', 20000)).code, 0);
    st.server = null;
    if (existsSync(SMALL_MODEL)) {
      const log = await startFails(['--embedding-model', SMALL_MODEL], st.dataDir);
      assert.match(log, /makes 256-dimension vectors, but this database stores pgvector's vector\(768\)/);
    }
    const log = await startFails(['--vector-backend', 'array'], st.dataDir);
    assert.match(log, /--vector-backend array: this database stores embeddings as 'pgvector'/);
  });
});

describe('--vector-backend on a real[] database', { skip: skip || false }, () => {
  test('a value other than auto, pgvector or array is a usage error', () => {
    let e = null;
    try {
      execFileSync(BIN, ['serve', '-m', MODEL, '--vector-backend', 'hnsw'], { encoding: 'utf8', stdio: 'pipe' });
    } catch (err) { e = err; }
    assert.ok(e, 'serve accepted --vector-backend hnsw');
    assert.equal(e.status, 2);
    assert.match(e.stderr, /--vector-backend must be auto, pgvector or array/);
  });

  test('asking for pgvector on a database created with real[] is refused', async () => {
    const dir = makeDataDir();
    try {
      const s = await startServer({ dataDir: dir, args: ['--vector-backend', 'array'] });
      assert.deepEqual(sql(s.dbUrl, "SELECT value FROM llamachat_settings WHERE key = 'vector_backend'"), ['array']);
      assert.equal((await s.stop('SIGTERM', 20000)).code, 0);
      const log = await startFails(['--vector-backend', 'pgvector'], dir);
      assert.match(log, /--vector-backend pgvector: this database stores embeddings as 'array'/);
    } finally {
      removeDir(dir);
    }
  });
});
