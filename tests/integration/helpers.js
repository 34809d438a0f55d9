// Helpers of the integration tests: start and stop real `llamachat serve`
// processes (each with its own data directory, so its own private
// PostgreSQL cluster, and a free port chosen by the kernel), and talk to
// them with real HTTP (fetch) and WebSocket (ws) clients.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';

export const BIN = process.env.LLAMACHAT_BIN;
export const SHARED = process.env.LC_SHARED_DIR;
export const MODEL = SHARED ? path.join(SHARED, 'models', 'stories260K.gguf') : '';

/** Why the suite cannot run here, or null. */
export function missingFixture() {
  if (!BIN || !existsSync(BIN)) return `LLAMACHAT_BIN (${BIN}) is not a built binary`;
  if (!MODEL || !existsSync(MODEL)) return `the model ${MODEL} is absent`;
  return null;
}

/** A fresh data directory. Mode 0755 so that, when the tests run as root,
 * the unprivileged user that runs the private cluster can enter it. */
export function makeDataDir() {
  const dir = mkdtempSync(path.join(tmpdir(), 'llamachat-it-'));
  chmodSync(dir, 0o755);
  return dir;
}

export function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts `llamachat serve` and waits until /health answers 200.
 * Returns { url, dbUrl, proc, log(), stop(signal) }.
 */
export async function startServer({ dataDir, databaseUrl, args = [], timeoutMs = 90000 } = {}) {
  const argv = ['serve', '-m', MODEL, '--port', '0'];
  if (dataDir) argv.push('--data-dir', dataDir);
  if (databaseUrl) argv.push('--database-url', databaseUrl);
  argv.push(...args);
  const proc = spawn(BIN, argv, {
    env: { ...process.env, ASAN_OPTIONS: process.env.ASAN_OPTIONS || 'detect_leaks=1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d) => { stdout += d; });
  proc.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => {
    proc.once('exit', (code, signal) => resolve({ code, signal }));
  });
  let exitInfo = null;
  exited.then((e) => { exitInfo = e; });

  const deadline = Date.now() + timeoutMs;
  let url = null;
  while (!url) {
    if (exitInfo) throw new Error(`llamachat serve exited (${JSON.stringify(exitInfo)}):\n${stderr}`);
    if (Date.now() > deadline) { proc.kill('SIGKILL'); throw new Error(`no URL printed:\n${stderr}`); }
    const m = /serving \S+ on (http:\/\/\S+)/.exec(stdout);
    if (m) url = m[1];
    else await sleep(50);
  }
  const dbMatch = /private PostgreSQL cluster in \S+: (\S+)/.exec(stderr);
  for (;;) {
    if (exitInfo) throw new Error(`llamachat serve exited (${JSON.stringify(exitInfo)}):\n${stderr}`);
    if (Date.now() > deadline) { proc.kill('SIGKILL'); throw new Error(`never healthy:\n${stderr}`); }
    try {
      const r = await fetch(`${url}/health`);
      await r.text();
      if (r.status === 200) break;
    } catch { /* not yet */ }
    await sleep(100);
  }
  return {
    url,
    dbUrl: dbMatch ? dbMatch[1] : databaseUrl,
    proc,
    log: () => stderr,
    /** Sends the signal and waits for the exit: { code, signal }. */
    async stop(signal = 'SIGTERM', waitMs = 60000) {
      if (!exitInfo) proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), waitMs);
      const e = await exited;
      clearTimeout(timer);
      return e;
    },
  };
}

/** One HTTP request; JSON in and out. */
export async function api(base, method, route, { token, body, raw, headers = {} } = {}) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  let payload;
  if (raw !== undefined) payload = raw;
  else if (body !== undefined) {
    payload = JSON.stringify(body);
    h['content-type'] = 'application/json';
  }
  const res = await fetch(base + route, { method, headers: h, body: payload });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, json, text };
}

/** Registers a user: { user_id, token }. */
export async function register(base, username, password = 'correct horse battery') {
  const r = await api(base, 'POST', '/api/auth/register', { body: { username, password } });
  if (r.status !== 201) throw new Error(`register ${username}: ${r.status} ${r.text}`);
  return r.json;
}

export async function createSession(base, user, extra = {}) {
  const r = await api(base, 'POST', '/api/sessions', {
    token: user.token, body: { user_id: user.user_id, ...extra },
  });
  if (r.status !== 201) throw new Error(`create session: ${r.status} ${r.text}`);
  return r.json;
}

/** Opens the chat WebSocket. Rejects with the HTTP status when refused. */
export function openWs(base, token, { viaQuery = false } = {}) {
  let target = `${base.replace(/^http/, 'ws')}/api/chat/stream`;
  const opts = {};
  if (viaQuery) target += `?access_token=${token}`;
  else if (token) opts.headers = { authorization: `Bearer ${token}` };
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(target, opts);
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      const err = new Error(`WebSocket refused: ${res.statusCode}`);
      err.status = res.statusCode;
      reject(err);
    });
    ws.once('error', reject);
  });
}

/**
 * Sends one ChatRequest on ws and collects frames until the one with
 * done:true. onFrame(frame, frames) runs for each frame (e.g. to cancel).
 * Returns { frames, tokens, final, text } where each frame has _t, the ms
 * since the request was sent.
 */
export function wsTurn(ws, request, { onFrame, timeoutMs = 120000 } = {}) {
  return new Promise((resolve, reject) => {
    const frames = [];
    const t0 = performance.now();
    const timer = setTimeout(() => { cleanup(); reject(new Error('no done frame in time')); }, timeoutMs);
    const onMessage = (data) => {
      const f = JSON.parse(data.toString());
      f._t = performance.now() - t0;
      frames.push(f);
      if (onFrame) onFrame(f, frames);
      if (f.done) {
        cleanup();
        const tokens = frames.filter((x) => !x.done);
        resolve({ frames, tokens, final: f, text: tokens.map((x) => x.token).join('') });
      }
    };
    const onClose = (code) => { cleanup(); reject(new Error(`WebSocket closed (${code}) before done`)); };
    function cleanup() {
      clearTimeout(timer);
      ws.off('message', onMessage);
      ws.off('close', onClose);
    }
    ws.on('message', onMessage);
    ws.once('close', onClose);
    ws.send(typeof request === 'string' ? request : JSON.stringify(request));
  });
}

/** Reads a text/event-stream response to its end: the parsed data lines. */
export async function sseTurn(base, token, body) {
  const t0 = performance.now();
  const res = await fetch(`${base}/api/chat/stream-sse`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.headers.get('content-type')?.startsWith('text/event-stream')) {
    return { status: res.status, json: await res.json().catch(() => null), events: [] };
  }
  const events = [];
  let buf = '';
  const decoder = new TextDecoder();
  for await (const chunk of res.body) {
    buf += decoder.decode(chunk, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
      if (data) events.push({ ...JSON.parse(data), _t: performance.now() - t0 });
    }
  }
  return { status: res.status, events };
}

/** One SQL statement through psql on a server's database: rows of
 * '|'-separated fields. */
export function sql(dbUrl, statement) {
  const out = execFileSync('psql', [dbUrl, '-v', 'ON_ERROR_STOP=1', '-Atc', statement], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.length > 0);
}

/** `llamachat embed -m model [--prefix prefix] text`: the text's vector. */
export function cliEmbed(model, text, prefix = '') {
  const args = ['embed', '-m', model];
  if (prefix) args.push('--prefix', prefix);
  args.push(text);
  const out = execFileSync(BIN, args, { encoding: 'utf8' });
  return out.trim().split(/\s+/).map(Number);
}

/** A stored vector's text, real[] '{0.1,...}' or pgvector '[0.1,...]', as
 * numbers. */
export function parseVector(s) {
  return s.replace(/[{}[\]]/g, '').split(',').map(Number);
}

export function assertClose(got, want, tol = 1e-5) {
  assert.equal(got.length, want.length);
  for (let i = 0; i < want.length; i++) {
    assert.ok(Math.abs(got[i] - want[i]) <= tol, `value ${i}: ${got[i]} vs ${want[i]}`);
  }
}

/** Waits until the database holds `expected` messages, all embedded. */
export async function waitEmbedded(dbUrl, expected, timeoutMs = 60000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [total, done] = sql(dbUrl,
      'SELECT count(*), count(content_embedding) FROM chat_messages')[0].split('|').map(Number);
    if (total === expected && done === expected) return;
    if (Date.now() > deadline) assert.fail(`${done} of ${total} messages embedded (want ${expected})`);
    await sleep(200);
  }
}
