// The native API of llamachat (docs/api.md), as the UI uses it. Every
// failure becomes an ApiError whose message can be shown to people as is.

export interface Auth {
  token: string;
  user_id: string;
  username: string;
}

export interface Session {
  id: string;
  user_id: string;
  title: string | null;
  model: string;
  system_prompt: string | null;
  created_at: string;
  updated_at: string;
}

export interface Message {
  id: string;
  session_id: string;
  role: 'user' | 'assistant' | 'system';
  content: string;
  model?: string | null;
  created_at?: string;
  tokens?: number | null;
  processing_time_ms?: number | null;
  tokens_per_second?: number | null;
  cuda_accelerated?: boolean | null;
  metadata?: { finish_reason?: string } | null;
}

export class ApiError extends Error {
  status: number;
  code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// Sentences for the errors people meet, in place of the server's terser ones.
const FRIENDLY: Record<string, string> = {
  unreachable: 'The server cannot be reached. Is llamachat running?',
  invalid_token: 'You were signed out. Please sign in again.',
  unauthorized: 'You were signed out. Please sign in again.',
  queue_full: 'The server is busy (queue full). Try again in a moment.',
  model_loading: 'The model is still loading. Try again in a moment.',
  prompt_too_long: 'This message does not fit in the model\'s context window.',
  database_unavailable: 'The database is unavailable. Try again shortly.',
};

export function friendly(code: string, message: string): string {
  return FRIENDLY[code] ?? message;
}

const AUTH_KEY = 'llamachat.auth';

export function loadAuth(): Auth | null {
  try {
    const a = JSON.parse(localStorage.getItem(AUTH_KEY) ?? 'null');
    return a && typeof a.token === 'string' ? a : null;
  } catch {
    return null;
  }
}

export function saveAuth(a: Auth | null): void {
  if (a) localStorage.setItem(AUTH_KEY, JSON.stringify(a));
  else localStorage.removeItem(AUTH_KEY);
}

export async function api<T>(
  method: string,
  path: string,
  body?: unknown,
  token?: string,
): Promise<T> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'unreachable', FRIENDLY.unreachable);
  }
  let json: any = null;
  try {
    json = await res.json();
  } catch {
    /* not JSON */
  }
  if (!res.ok) {
    const code = json?.error?.code ?? `http_${res.status}`;
    const msg = json?.error?.message ?? `${res.status} ${res.statusText}`;
    throw new ApiError(res.status, code, friendly(code, msg));
  }
  return json as T;
}

/** The WebSocket URL of the chat stream (browsers cannot set headers on a
 * WebSocket, so the token travels as access_token; see docs/api.md). */
export function streamUrl(token: string): string {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}/api/chat/stream?access_token=${encodeURIComponent(token)}`;
}
