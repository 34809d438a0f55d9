// The UI is a static single-page app embedded in the llamachat binary:
// adapter-static writes it to LC_WEB_OUT (the CMake build folder) or build/,
// with index.html as the fallback for every path the server does not know.
import adapter from '@sveltejs/adapter-static';
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

const out = process.env.LC_WEB_OUT || 'build';

export default {
  preprocess: vitePreprocess(),
  kit: {
    adapter: adapter({ pages: out, assets: out, fallback: 'index.html', precompress: false }),
    // No inline scripts from SvelteKit's own bootstrap would need 'unsafe-inline'
    // if a CSP is added later; keep asset names hashed under /_app/immutable.
    appDir: '_app',
    output: { bundleStrategy: 'single' },
  },
};
