// Time to first token across the turns of one conversation (a benchmark, not
// a test): starts `llamachat serve` on a free port with a private database,
// sends N turns to one session with POST /api/chat, and prints each turn's
// prompt tokens, cached tokens and ttft_ms as the server measured them.
//
//   node tools/bench_ttft.mjs BIN MODEL [turns=8] [max_tokens=32]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [bin, model, turnsArg, maxArg] = process.argv.slice(2);
if (!bin || !model) {
  console.error('usage: node tools/bench_ttft.mjs BIN MODEL [turns] [max_tokens]');
  process.exit(2);
}
const turns = Number(turnsArg ?? 8), maxTokens = Number(maxArg ?? 32);
const dir = mkdtempSync(join(tmpdir(), 'llamachat-ttft-'));
const srv = spawn(bin, ['serve', '-m', model, '--port', '0', '--data-dir', dir,
                        '--slots', '1', '-t', '2'],
                  { stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise((resolve, reject) => {
  let out = '';
  srv.stdout.on('data', (d) => {
    out += d;
    const m = out.match(/http:\/\/[0-9.]+:\d+/);
    if (m) resolve(m[0]);
  });
  srv.on('exit', (c) => reject(new Error(`server exited ${c}`)));
});
async function call(method, path, body, token) {
  const r = await fetch(url + path, {
    method, body: body && JSON.stringify(body),
    headers: token ? { Authorization: `Bearer ${token}` } : {},
  });
  const j = await r.json();
  if (!r.ok) throw new Error(`${path}: ${r.status} ${JSON.stringify(j)}`);
  return j;
}
try {
  for (;;) { // wait for the model
    const r = await fetch(url + '/health');
    if (r.status === 200) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  const { user_id, token } = await call('POST', '/api/auth/register',
                                        { username: 'bench', password: 'bench-password' });
  const s = await call('POST', '/api/sessions', { user_id, title: 'ttft' }, token);
  const sid = s.id ?? s.session_id ?? s.session?.id;
  console.log('| turn | prompt tokens | cached tokens | ttft ms |');
  console.log('| ---: | ---: | ---: | ---: |');
  for (let t = 1; t <= turns; t++) {
    const message = `Turn ${t}: and what did the girl find in the forest?`;
    const r = await call('POST', '/api/chat', {
      session_id: sid, user_id, message, max_tokens: maxTokens, temperature: 0,
    }, token);
    console.log(`| ${t} | ${r.prompt_tokens} | ${r.cached_tokens} | ${r.ttft_ms.toFixed(1)} |`);
  }
} finally {
  srv.kill('SIGTERM');
  await new Promise((res) => srv.on('exit', res));
  rmSync(dir, { recursive: true, force: true });
}
