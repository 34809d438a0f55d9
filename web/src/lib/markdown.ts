// Markdown of model replies, made safe: marked turns it into HTML, code
// blocks go through our highlighter (which escapes everything), and
// DOMPurify removes anything active (scripts, event handlers, javascript:
// links, raw HTML the model wrote), so model output can never run code in
// the page. Links open in a new tab without an opener.
import DOMPurify from 'dompurify';
import { Marked } from 'marked';
import { escapeHtml, highlight } from './highlight';

const marked = new Marked({
  gfm: true,
  breaks: true,
  renderer: {
    code({ text, lang }) {
      const l = (lang ?? '').split(/\s/)[0];
      const cls = l ? ` class="language-${escapeHtml(l)}"` : '';
      return `<pre><code${cls}>${highlight(text, l)}</code></pre>\n`;
    },
    // Raw HTML in the model's Markdown is shown as text, not interpreted.
    html({ text }) {
      return escapeHtml(text);
    },
  },
});

DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A') {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer');
  }
});

export function renderMarkdown(src: string): string {
  const html = marked.parse(src, { async: false }) as string;
  return DOMPurify.sanitize(html, {
    FORBID_TAGS: ['style', 'img', 'iframe', 'form', 'input'],
    FORBID_ATTR: ['style'],
  });
}
