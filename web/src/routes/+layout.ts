// A client-only single-page app: the server embeds the static build and
// answers every unknown path with index.html.
export const ssr = false;
export const prerender = false;
