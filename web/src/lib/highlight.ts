// A small syntax highlighter for code blocks in replies: comments, strings,
// numbers and common keywords of C-like languages, Python and shell. It
// escapes every piece of text itself and adds only <span class="hl-...">,
// so its output is as safe as plain escaped text (DOMPurify runs after it
// all the same).

const KEYWORDS = new Set(
  ('if else for while do return break continue switch case default function def class ' +
    'struct enum union typedef const let var static public private import from export ' +
    'package fn pub use impl match mut async await try catch except finally raise throw ' +
    'new delete true false null nil None True False void int char float double long ' +
    'unsigned bool string in of and or not is lambda with as yield echo then fi done esac').split(' '),
);

const TOKEN = /(\/\/[^\n]*|#[^\n]*|\/\*[\s\S]*?\*\/)|("(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'|`(?:\\.|[^`\\])*`)|(\b\d[\d_]*(?:\.\d+)?(?:e[+-]?\d+)?\b|\b0x[0-9a-f]+\b)|([A-Za-z_][A-Za-z0-9_]*)/gi;

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** HTML for code in language lang ('' when unknown). '#' starts a comment
 * only in languages that use it. */
export function highlight(code: string, lang: string): string {
  const hashComments = /^(py|python|sh|bash|shell|zsh|rb|ruby|yaml|yml|toml|perl|r)$/i.test(lang);
  let out = '';
  let last = 0;
  for (const m of code.matchAll(TOKEN)) {
    const at = m.index ?? 0;
    out += escapeHtml(code.slice(last, at));
    last = at + m[0].length;
    let cls = '';
    if (m[1] !== undefined) {
      if (m[1].startsWith('#') && !hashComments) {
        // not a comment here: highlight nothing, but keep scanning after '#'
        out += '#';
        last = at + 1;
        TOKEN.lastIndex = at + 1;
        continue;
      }
      cls = 'comment';
    } else if (m[2] !== undefined) cls = 'string';
    else if (m[3] !== undefined) cls = 'number';
    else if (m[4] !== undefined && KEYWORDS.has(m[4])) cls = 'keyword';
    out += cls ? `<span class="hl-${cls}">${escapeHtml(m[0])}</span>` : escapeHtml(m[0]);
  }
  return out + escapeHtml(code.slice(last));
}
