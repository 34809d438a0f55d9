// Issue 4's acceptance list: the OpenAI- and Ollama-compatible APIs of a real
// `llamachat serve` (stories260K, its own private PostgreSQL cluster),
// driven by the official `openai` and `ollama` npm clients and by raw
// fetch for the wire framing.
//
// Server A runs as deployed (tokens required); server B shares A's database
// and runs with --allow-anonymous-loopback and an alias.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { Ollama } from 'ollama';
import {
  api, createSession, makeDataDir, missingFixture, register, removeDir, startServer,
} from './helpers.js';

const skip = missingFixture();
const MODEL = 'stories260K';
const ALIAS = 'tiny-stories:latest';

const st = { dataDir: null, a: null, b: null, user: null };

function openai(server, apiKey = st.user.token) {
  // maxRetries 0: an error must reach the test as it was sent
  return new OpenAI({ baseURL: `${server.url}/v1`, apiKey, maxRetries: 0 });
}

function ollama(server, token = st.user.token) {
  return new Ollama({ host: server.url, headers: token ? { Authorization: `Bearer ${token}` } : {} });
}

/** POSTs body and returns the response's text split as the framing asks. */
async function rawPost(server, route, body, { token = st.user.token, headers = {} } = {}) {
  const h = { 'content-type': 'application/json', ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  const res = await fetch(server.url + route, { method: 'POST', headers: h, body: JSON.stringify(body) });
  return { status: res.status, type: res.headers.get('content-type') || '', text: await res.text() };
}

function assertOpenAIError(r, status, code) {
  assert.equal(r.status, status, r.text);
  const j = JSON.parse(r.text);
  assert.equal(typeof j.error.message, 'string');
  assert.equal(typeof j.error.type, 'string');
  if (code) assert.equal(j.error.code, code);
}

describe('peer APIs (OpenAI, Ollama)', { skip: skip || false }, () => {
  before(async () => {
    st.dataDir = makeDataDir();
    st.a = await startServer({ dataDir: st.dataDir });
    st.b = await startServer({
      databaseUrl: st.a.dbUrl, args: ['--allow-anonymous-loopback', '--alias', ALIAS],
    });
    st.user = await register(st.a.url, 'peer-user');
  });

  after(async () => {
    for (const s of [st.b, st.a]) if (s) await s.stop('SIGTERM', 20000).catch(() => {});
    if (st.dataDir) removeDir(st.dataDir);
  });

  // ------------------------------------------------------------ OpenAI

  test('openai: chat completion, not streamed', async () => {
    const r = await openai(st.a).chat.completions.create({
      model: MODEL,
      messages: [{ role: 'system', content: 'You tell stories.' }, { role: 'user', content: 'Once upon a time' }],
      max_tokens: 16, seed: 7, temperature: 0.8, top_p: 0.9, presence_penalty: 0.1,
      frequency_penalty: 0.1, user: 'someone', stop: ['zzz'],
    });
    assert.equal(r.object, 'chat.completion');
    assert.match(r.id, /^chatcmpl-/);
    assert.equal(r.choices.length, 1);
    assert.equal(r.choices[0].message.role, 'assistant');
    assert.ok(r.choices[0].message.content.length > 0);
    assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
    assert.ok(r.usage.prompt_tokens > 0);
    assert.ok(r.usage.completion_tokens > 0 && r.usage.completion_tokens <= 16);
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
    assert.equal(r.timings.predicted_n, r.usage.completion_tokens);
    // the same seed gives the same reply
    const again = await openai(st.a).chat.completions.create({
      model: MODEL, messages: [{ role: 'system', content: 'You tell stories.' }, { role: 'user', content: 'Once upon a time' }],
      max_tokens: 16, seed: 7, temperature: 0.8, top_p: 0.9, presence_penalty: 0.1, frequency_penalty: 0.1,
    });
    assert.equal(again.choices[0].message.content, r.choices[0].message.content);
  });

  test('openai: chat completion streamed, with the usage chunk and timings', async () => {
    const stream = await openai(st.a).chat.completions.create({
      model: MODEL, messages: [{ role: 'user', content: 'Tell me a story' }], max_tokens: 12,
      stream: true, stream_options: { include_usage: true }, top_k: 40, min_p: 0.05, repeat_penalty: 1.1,
    });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    const withChoices = chunks.filter((c) => c.choices.length > 0);
    assert.equal(withChoices[0].choices[0].delta.role, 'assistant');
    const text = withChoices.map((c) => c.choices[0].delta.content || '').join('');
    assert.ok(text.length > 0);
    const last = withChoices[withChoices.length - 1];
    assert.ok(['stop', 'length'].includes(last.choices[0].finish_reason));
    for (const c of withChoices.slice(0, -1)) assert.equal(c.choices[0].finish_reason, null);
    assert.equal(typeof last.timings.predicted_n, 'number');
    assert.equal(typeof last.timings.prompt_ms, 'number');
    const usage = chunks[chunks.length - 1];
    assert.deepEqual(usage.choices, []);
    assert.equal(usage.usage.completion_tokens, last.timings.predicted_n);
    assert.equal(new Set(chunks.map((c) => c.id)).size, 1, 'one id for every chunk');
  });

  test('openai: completions, streamed and not', async () => {
    const c = openai(st.a);
    const r = await c.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 8, seed: 3 });
    assert.equal(r.object, 'text_completion');
    assert.ok(r.choices[0].text.length > 0);
    assert.ok(r.usage.completion_tokens <= 8);
    const s = await c.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 8, seed: 3, stream: true });
    let text = '';
    for await (const chunk of s) text += chunk.choices[0]?.text || '';
    assert.equal(text, r.choices[0].text, 'same seed, same text, streamed or not');
  });

  test('openai: models, embeddings error, bad model 404, bad params 400, auth 401', async () => {
    const c = openai(st.b);
    const models = await c.models.list();
    const ids = models.data.map((m) => m.id);
    assert.ok(ids.includes(MODEL) && ids.includes(ALIAS), ids.join());
    // the alias and the name without its :latest tag both answer
    const r = await c.chat.completions.create({ model: 'tiny-stories', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2 });
    assert.equal(r.model, 'tiny-stories');

    await assert.rejects(c.embeddings.create({ model: MODEL, input: 'hello' }), (e) => {
      assert.equal(e.status, 400);
      assert.equal(e.code, 'model_not_embedding');
      return true;
    });
    await assert.rejects(c.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] }), (e) => {
      assert.equal(e.status, 404);
      assert.equal(e.code, 'model_not_found');
      assert.equal(e.type, 'invalid_request_error');
      return true;
    });
    for (const bad of [{ n: 2 }, { temperature: 5 }, { max_tokens: 0 }, { top_p: 'x' }, { stop: [1] }]) {
      await assert.rejects(
        c.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }], ...bad }),
        (e) => { assert.equal(e.status, 400, JSON.stringify(bad)); return true; },
      );
    }
    assertOpenAIError(await rawPost(st.a, '/v1/chat/completions', { model: MODEL, messages: [] }), 400);
    await assert.rejects(openai(st.a, 'not-a-token').models.list(), (e) => e.status === 401);
    assertOpenAIError(await rawPost(st.a, '/v1/chat/completions',
      { model: MODEL, messages: [{ role: 'user', content: 'Hi' }] }, { token: null }), 401, 'invalid_api_key');
    // B lets loopback in without a token, statelessly
    const anon = await rawPost(st.b, '/v1/chat/completions',
      { model: MODEL, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2 }, { token: null });
    assert.equal(anon.status, 200, anon.text);
  });

  test('openai: raw SSE framing ends with data: [DONE]', async () => {
    const r = await rawPost(st.a, '/v1/chat/completions', {
      model: MODEL, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 6, stream: true,
      stream_options: { include_usage: true },
    });
    assert.equal(r.status, 200);
    assert.match(r.type, /^text\/event-stream/);
    assert.ok(r.text.endsWith('data: [DONE]\n\n'), JSON.stringify(r.text.slice(-40)));
    const events = r.text.split('\n\n').filter((e) => e.length > 0);
    for (const e of events) assert.match(e, /^data: /, 'only data: lines, no event names');
    const datas = events.map((e) => e.slice(6));
    assert.equal(datas.pop(), '[DONE]');
    const objs = datas.map((d) => JSON.parse(d));
    assert.deepEqual(objs[objs.length - 1].choices, []);
    assert.equal(typeof objs[objs.length - 1].usage.total_tokens, 'number');
    assert.ok(objs[objs.length - 2].timings, 'timings on the last choice chunk');
  });

  test('openai: a named session stores the turn; stateless otherwise', async () => {
    const s = await createSession(st.a.url, st.user);
    const r = await openai(st.a).chat.completions.create({
      model: MODEL, messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 6,
      metadata: { session_id: s.id },
    });
    const m = await api(st.a.url, 'GET', `/api/sessions/${s.id}/messages`, { token: st.user.token });
    assert.equal(m.status, 200, m.text);
    assert.deepEqual(m.json.messages.map((x) => x.role), ['user', 'assistant']);
    assert.equal(m.json.messages[0].content, 'Once upon a time');
    assert.equal(m.json.messages[1].content, r.choices[0].message.content);
    // the header names a session too; an unknown one is a 404
    const h = await rawPost(st.a, '/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2 },
      { headers: { 'X-Llamachat-Session': '00000000-0000-4000-8000-000000000000' } });
    assertOpenAIError(h, 404, 'session_not_found');
  });

  // ------------------------------------------------------------ Ollama

  test('ollama: chat streamed and not, generate', async () => {
    const o = ollama(st.a);
    const r = await o.chat({
      model: MODEL, messages: [{ role: 'user', content: 'Once upon a time' }], stream: false,
      options: { num_predict: 8, seed: 5, temperature: 0.7, top_k: 40, top_p: 0.9, min_p: 0.01,
        repeat_penalty: 1.1, repeat_last_n: 32, presence_penalty: 0.1, frequency_penalty: 0.1, stop: ['zzz'], num_ctx: 1000000 },
    });
    assert.equal(r.done, true);
    assert.equal(r.message.role, 'assistant');
    assert.ok(r.message.content.length > 0);
    assert.ok(['stop', 'length'].includes(r.done_reason));
    assert.ok(r.eval_count > 0 && r.eval_count <= 8);

    const parts = [];
    for await (const p of await o.chat({
      model: `${MODEL}:latest`, messages: [{ role: 'user', content: 'Once upon a time' }], stream: true,
      options: { num_predict: 8, seed: 5, temperature: 0.7, top_k: 40, top_p: 0.9, min_p: 0.01,
        repeat_penalty: 1.1, repeat_last_n: 32, presence_penalty: 0.1, frequency_penalty: 0.1 },
    })) parts.push(p);
    const final = parts[parts.length - 1];
    assert.equal(final.done, true);
    assert.equal(parts.slice(0, -1).map((p) => p.message.content).join(''), r.message.content);

    const g = await o.generate({ model: MODEL, prompt: 'Once upon a time', stream: false, options: { num_predict: 6 } });
    assert.equal(g.done, true);
    assert.ok(g.response.length > 0);
    let gs = '';
    for await (const p of await o.generate({ model: MODEL, prompt: 'Hi', raw: true, options: { num_predict: 6 }, stream: true })) {
      gs += p.response;
    }
    assert.ok(gs.length > 0);
  });

  test('ollama: tags, show, ps, version, GET /', async () => {
    const o = ollama(st.b);
    const tags = await o.list();
    const names = tags.models.map((m) => m.name);
    assert.ok(names.includes(`${MODEL}:latest`) && names.includes(ALIAS), names.join());
    assert.equal(tags.models[0].details.format, 'gguf');
    assert.equal(typeof tags.models[0].size, 'number');
    const show = await o.show({ model: ALIAS });
    assert.equal(show.details.family, 'llama');
    assert.equal(typeof show.model_info['general.parameter_count'], 'number');
    const ps = await o.ps();
    assert.ok(ps.models.length >= 1);
    assert.equal(typeof ps.models[0].size_vram, 'number');
    const v = await o.version();
    assert.match(v.version, /^\d+\.\d+\.\d+$/);
    const root = await fetch(st.a.url + '/');
    assert.equal(await root.text(), 'Ollama is running');
  });

  test('ollama: errors in its own shape', async () => {
    const o = ollama(st.a);
    await assert.rejects(o.chat({ model: 'llama3', messages: [{ role: 'user', content: 'Hi' }], stream: false }),
      (e) => { assert.equal(e.status_code, 404); assert.match(e.error, /not found/); return true; });
    await assert.rejects(o.embed({ model: MODEL, input: 'hello' }),
      (e) => { assert.equal(e.status_code, 400); assert.match(e.error, /embedding/); return true; });
    const bad = await rawPost(st.a, '/api/generate', { model: MODEL, prompt: 'Hi', options: { temperature: 'hot' } });
    assert.equal(bad.status, 400);
    assert.equal(typeof JSON.parse(bad.text).error, 'string');
    const anon = await rawPost(st.a, '/api/chat', { model: MODEL, messages: [{ role: 'user', content: 'Hi' }] }, { token: null });
    assert.equal(anon.status, 401);
    assert.equal(typeof JSON.parse(anon.text).error, 'string');
    // an empty conversation only "loads" the model
    const load = await o.chat({ model: MODEL, messages: [], stream: false });
    assert.equal(load.done_reason, 'load');
  });

  test('ollama: raw NDJSON framing, final line typed as Ollama types it', async () => {
    for (const [route, body] of [
      ['/api/chat', { model: MODEL, messages: [{ role: 'user', content: 'Hi' }], options: { num_predict: 6 } }],
      ['/api/generate', { model: MODEL, prompt: 'Hi', options: { num_predict: 6 } }],
    ]) {
      const r = await rawPost(st.a, route, body);
      assert.equal(r.status, 200);
      assert.match(r.type, /^application\/x-ndjson/);
      assert.ok(r.text.endsWith('\n'));
      const lines = r.text.slice(0, -1).split('\n').map((l) => JSON.parse(l));
      for (const l of lines.slice(0, -1)) {
        assert.equal(l.done, false);
        assert.equal(l.model, MODEL);
        assert.match(l.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$/);
      }
      const f = lines[lines.length - 1];
      assert.equal(f.done, true);
      assert.equal(typeof f.done_reason, 'string');
      for (const k of ['total_duration', 'load_duration', 'prompt_eval_count', 'prompt_eval_duration', 'eval_count', 'eval_duration']) {
        assert.ok(Number.isInteger(f[k]), `${k} is an integer: ${f[k]}`);
      }
      assert.ok(f.total_duration >= f.eval_duration);
    }
  });

  // ------------------------------------------------------- cancellation

  test('a disconnect mid-stream stops generation; the next request succeeds at once', async () => {
    const s = await createSession(st.a.url, st.user);
    const ctl = new AbortController();
    const res = await fetch(`${st.a.url}/v1/chat/completions`, {
      method: 'POST', signal: ctl.signal,
      headers: { authorization: `Bearer ${st.user.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: MODEL, messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 4000,
        temperature: 1.0, stream: true, metadata: { session_id: s.id },
      }),
    });
    assert.equal(res.status, 200);
    let seen = 0;
    try {
      for await (const chunk of res.body) {
        seen += (new TextDecoder().decode(chunk).match(/data: /g) || []).length;
        if (seen >= 3) { ctl.abort(); break; }
      }
    } catch { /* aborted */ }
    const t0 = Date.now();
    const r = await openai(st.a).chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4 });
    assert.ok(r.choices[0].message.content.length > 0);
    assert.ok(Date.now() - t0 < 5000, 'the next request is served at once');
    // the abandoned turn was stored as cancelled, long before its 4000 tokens
    let stored;
    for (let i = 0; i < 50; i++) {
      const m = await api(st.a.url, 'GET', `/api/sessions/${s.id}/messages`, { token: st.user.token });
      stored = m.json.messages;
      if (stored.length === 2) break;
      await new Promise((ok) => setTimeout(ok, 100));
    }
    assert.equal(stored.length, 2);
    assert.equal(stored[1].metadata.finish_reason, 'cancelled', JSON.stringify(stored[1]));
    assert.ok(stored[1].tokens < 4000);

    // stateless (Ollama NDJSON) and non-streamed requests given up early
    for (const [route, body] of [
      ['/api/generate', { model: MODEL, prompt: 'Once upon a time', options: { num_predict: 4000, temperature: 1 } }],
      ['/v1/completions', { model: MODEL, prompt: 'Once upon a time', max_tokens: 4000, temperature: 1 }],
    ]) {
      const c = new AbortController();
      const p = fetch(st.a.url + route, {
        method: 'POST', signal: c.signal,
        headers: { authorization: `Bearer ${st.user.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).then(async (res) => { for await (const chunk of res.body) { void chunk; c.abort(); } }).catch(() => {});
      setTimeout(() => c.abort(), 20);
      await p;
      const t1 = Date.now();
      const next = await ollama(st.a).generate({ model: MODEL, prompt: 'Hi', stream: false, options: { num_predict: 4 } });
      assert.ok(next.response.length > 0);
      assert.ok(Date.now() - t1 < 5000, `the request after an abandoned ${route} is served at once`);
    }
  });

  test('peer generations count in /metrics', async () => {
    const m = await api(st.a.url, 'GET', '/metrics');
    assert.equal(m.status, 200);
    const gen = /^llamachat_generated_tokens_total (\d+)/m.exec(m.text);
    assert.ok(gen && Number(gen[1]) > 0, 'generated tokens counted');
    assert.match(m.text, /^llamachat_turns_total\{finish_reason="cancelled"\} [1-9]/m);
  });

  test('both servers stop cleanly, with quiet sanitizers', async () => {
    for (const key of ['b', 'a']) {
      const e = await st[key].stop('SIGTERM', 30000);
      const log = st[key].log();
      st[key] = null;
      assert.doesNotMatch(log, /AddressSanitizer|LeakSanitizer|runtime error:/, log);
      assert.equal(e.code, 0, log);
    }
  });
});
