import { EnvHttpProxyAgent, fetch as undiciFetch } from 'undici';

type Env = Record<string, string | undefined>;

/**
 * The fetch for the service's own requests (issuers' keys and discovery, Entra's keys): through
 * `HTTPS_PROXY`/`HTTP_PROXY` (either case) except for the hosts `NO_PROXY` names, as a corporate egress
 * proxy needs; the global fetch when no proxy is set.
 */
export function egressFetch(env: Env = process.env): typeof fetch {
  const read = (name: string): string | undefined => {
    const value = env[name] ?? env[name.toLowerCase()];
    if (value && name !== 'NO_PROXY' && !URL.canParse(value)) throw new Error(`${name}: is not a URL (e.g. http://proxy.internal:3128)`);
    return value;
  };
  const httpsProxy = read('HTTPS_PROXY');
  const httpProxy = read('HTTP_PROXY');
  if (!httpsProxy && !httpProxy) return fetch;
  const noProxy = read('NO_PROXY');
  const dispatcher = new EnvHttpProxyAgent({ ...(httpProxy ? { httpProxy } : {}), ...(httpsProxy ? { httpsProxy } : {}), ...(noProxy !== undefined ? { noProxy } : {}) });
  // undici's own fetch (the global one takes no dispatcher of this undici); its answer as a global Response.
  return async (input, init) => {
    const request = new Request(input, init);
    const answer = await undiciFetch(request.url, { method: request.method, headers: [...request.headers], body: request.body, duplex: 'half', redirect: request.redirect, signal: request.signal, dispatcher });
    return new Response(answer.body, { status: answer.status, statusText: answer.statusText, headers: [...answer.headers] });
  };
}
