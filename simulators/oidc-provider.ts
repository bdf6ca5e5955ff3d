import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';
import { exportJWK, generateKeyPair, decodeJwt } from 'jose';

export interface OpClient {
  client_id: string;
  client_secret: string;
  redirect_uris: string[];
  backchannel_logout_uri?: string;
  backchannel_logout_session_required?: boolean;
}

/** Events the provider emits for each back-channel logout it sends. */
export interface BackchannelEvent {
  ok: boolean;
  clientId: string;
  accountId: string;
  sid: string;
  error?: string;
}

/**
 * panva's oidc-provider on 127.0.0.1 (port 0): a real OpenID Provider with back-channel logout and its
 * development login/consent pages. Its outgoing requests go through a plain fetch, because 9.7+
 * refuses loopback targets through its guarding dispatcher.
 */
export class TestOpenIdProvider {
  readonly events: BackchannelEvent[] = [];
  private waiters: (() => void)[] = [];

  private constructor(
    readonly issuer: string,
    readonly provider: Provider,
    private readonly server: Server,
  ) {
    // Events the type declarations do not list.
    const events = provider as unknown as NodeJS.EventEmitter;
    events.on('backchannel.success', (_ctx: unknown, client: { clientId: string }, accountId: string, sid: string) => this.record({ ok: true, clientId: client.clientId, accountId, sid }));
    events.on('backchannel.error', (_ctx: unknown, err: Error, client: { clientId: string }, accountId: string, sid: string) => this.record({ ok: false, clientId: client.clientId, accountId, sid, error: err.message }));
  }

  private record(event: BackchannelEvent): void {
    this.events.push(event);
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** Resolves once `count` back-channel events have been emitted. */
  async backchannelEvents(count: number): Promise<BackchannelEvent[]> {
    while (this.events.length < count) await new Promise<void>((resolve) => this.waiters.push(resolve));
    return this.events.slice(0, count);
  }

  static async start(clients: (issuer: string) => OpClient[]): Promise<TestOpenIdProvider> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const provider = new Provider(issuer, {
      clients: clients(issuer).map((c) => ({ ...c, grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_post' })),
      features: { backchannelLogout: { enabled: true }, devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
      jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: 'op-key', alg: 'RS256', use: 'sig' }] },
      cookies: { keys: [randomBytes(16).toString('hex')] },
      pkce: { required: () => true },
      findAccount: async (_ctx: unknown, id: string) => ({ accountId: id, claims: async () => ({ sub: id }) }),
      fetch: (url: URL | string, options: RequestInit & { dispatcher?: unknown }) => {
        const { dispatcher: _guard, ...plain } = options;
        return globalThis.fetch(url, plain);
      },
    } as never);
    const handle = provider.callback();
    // Koa answers its own errors, so the promise its handler returns never rejects: nothing to await.
    server.on('request', (req, res) => void handle(req, res));
    return new TestOpenIdProvider(issuer, provider, server);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A browser without a browser: a cookie jar, manual redirects, and the provider's HTML forms. */
export class CookieBrowser {
  private readonly cookies = new Map<string, string>();

  async request(url: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (init.form) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await fetch(url, { method: init.method ?? (init.form ? 'POST' : 'GET'), headers, body: init.form ? new URLSearchParams(init.form).toString() : undefined, redirect: 'manual' });
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const [name, ...value] = pair!.split('=');
      const expired = attrs.some((a) => /expires=Thu, 01 Jan 1970/i.test(a));
      if (expired) this.cookies.delete(name!.trim());
      else this.cookies.set(name!.trim(), value.join('='));
    }
    return res;
  }

  /** Follows redirects until a page, or until one leaves for `stopAt` (the client's redirect URI). */
  async follow(url: string, init: { form?: Record<string, string> } = {}, stopAt?: string): Promise<{ url: string; res: Response }> {
    let res = await this.request(url, init);
    let current = url;
    for (let hops = 0; res.status >= 300 && res.status < 400; hops++) {
      if (hops > 20) throw new Error('too many redirects');
      current = new URL(res.headers.get('location')!, current).href;
      if (stopAt && current.startsWith(stopAt)) return { url: current, res };
      res = await this.request(current);
    }
    return { url: current, res };
  }

  /** Submits the page's form (hidden inputs kept) with `fields` added. */
  async submit(pageUrl: string, html: string, fields: Record<string, string>, stopAt?: string): Promise<{ url: string; res: Response }> {
    const form = /<form[^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/i.exec(html);
    if (!form) throw new Error(`no form on ${pageUrl}`);
    const hidden: Record<string, string> = {};
    for (const input of form[2]!.matchAll(/<input[^>]*type="hidden"[^>]*>/gi)) {
      const name = /name="([^"]*)"/.exec(input[0])?.[1];
      const value = /value="([^"]*)"/.exec(input[0])?.[1] ?? '';
      if (name) hidden[name] = value;
    }
    return this.follow(new URL(form[1]!, pageUrl).href, { form: { ...hidden, ...fields } }, stopAt);
  }
}

export interface SignedInUser {
  idToken: string;
  sub: string;
  sid?: string;
  iss: string;
}

/** The authorization code flow with PKCE through the provider's development login and consent pages. */
export async function signInWithProvider(op: TestOpenIdProvider, browser: CookieBrowser, client: OpClient, login: string): Promise<SignedInUser> {
  const verifier = randomBytes(32).toString('base64url');
  const redirectUri = client.redirect_uris[0]!;
  const auth = new URL(`${op.issuer}/auth`);
  auth.search = new URLSearchParams({
    client_id: client.client_id,
    response_type: 'code',
    scope: 'openid',
    redirect_uri: redirectUri,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    state: randomBytes(8).toString('hex'),
    nonce: randomBytes(8).toString('hex'),
  }).toString();
  let step = await browser.follow(auth.href, {}, redirectUri);
  for (let pages = 0; !step.url.startsWith(redirectUri); pages++) {
    if (pages > 4) throw new Error(`sign-in did not finish: ${step.url}`);
    const html = await step.res.text();
    const fields: Record<string, string> = /name="login"/.test(html) ? { prompt: 'login', login, password: 'any' } : { prompt: 'consent' };
    step = await browser.submit(step.url, html, fields, redirectUri);
  }
  const code = new URL(step.url).searchParams.get('code');
  if (!code) throw new Error(`no code in ${step.url}`);
  const token = await fetch(`${op.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier, client_id: client.client_id, client_secret: client.client_secret }),
  });
  const body = (await token.json()) as { id_token?: string; error?: string };
  if (!body.id_token) throw new Error(`token endpoint: ${JSON.stringify(body)}`);
  const claims = decodeJwt(body.id_token) as { sub: string; sid?: string; iss: string };
  return { idToken: body.id_token, sub: claims.sub, iss: claims.iss, ...(claims.sid ? { sid: claims.sid } : {}) };
}

/** Ends the browser's session at the provider: /session/end, then the confirm form with logout=yes. */
export async function endSession(op: TestOpenIdProvider, browser: CookieBrowser): Promise<Response> {
  const page = await browser.follow(`${op.issuer}/session/end`);
  const html = await page.res.text();
  const done = await browser.submit(page.url, html, { logout: 'yes' });
  return done.res;
}
