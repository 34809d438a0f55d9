import { sveltekit } from '@sveltejs/kit/vite';
import { defineConfig } from 'vite';

export default defineConfig({
  plugins: [sveltekit()],
  // `npm run dev` talks to a llamachat on its default port.
  server: {
    proxy: {
      '/api': { target: 'http://127.0.0.1:8086', ws: true },
      '/health': 'http://127.0.0.1:8086',
    },
  },
});
