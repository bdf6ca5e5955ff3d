import t from 'tap';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { chromium, type Browser } from 'playwright-core';
import { ENTRA_TEMPLATE, ISSUER, ORDERS, TENANT_A, startService } from '../helpers/service.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

if (!existsSync(CHROMIUM)) {
  t.comment(`##### SKIPPING the browser suite: no Chromium at ${CHROMIUM} (apt-get install chromium; .ci/run does) #####`);
  t.plan(0, `no Chromium at ${CHROMIUM}`);
} else {
  /** An "OP" sign-out page on its own origin that renders hidden iframes of the given URLs, as providers do. */
  async function opLogoutPage(host: string): Promise<{ origin: string; show(urls: string[]): string; close(): Promise<void> }> {
    let frames: string[] = [];
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<!doctype html><title>Signed out of the provider</title>${frames.map((u) => `<iframe src="${u}" style="display:none"></iframe>`).join('')}`);
    });
    server.listen(0, host);
    await once(server, 'listening');
    const origin = `http://${host === '127.0.0.1' ? '127.0.0.1' : host}:${(server.address() as AddressInfo).port}`;
    return {
      origin,
      show(urls) {
        frames = urls;
        return `${origin}/logout`;
      },
      close: () => new Promise((resolve) => server.close(() => resolve())),
    };
  }

  // The provider's page is on localhost, the service on 127.0.0.1: another site, so the iframes are third-party.
  const op = await opLogoutPage('localhost');
  t.teardown(() => op.close());
  const stranger = await opLogoutPage('127.0.0.2');
  t.teardown(() => stranger.close());
  const svc = await startService((f) => {
    for (const issuer of f.issuers) issuer.frontchannelOrigins = [op.origin];
  });
  t.teardown(() => svc.close());
  const service = await svc.app.listen({ host: '127.0.0.1', port: 0 });

  const browser: Browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--test-third-party-cookie-phaseout'],
  });
  t.teardown(() => browser.close());

  async function register(issuer: string) {
    const sid = `sid-${randomUUID()}`;
    const res = await svc.app.inject({ method: 'POST', url: '/v1/sessions', headers: svc.auth, payload: { clientId: ORDERS, issuer, sid, sub: 's', homeAccountId: `${randomUUID()}.${TENANT_A}` } });
    return { id: res.json().id as string, sid };
  }

  t.test('Chromium, third-party cookies blocked: the provider page frames both URL forms and both sessions end', async (t) => {
    const spec = await register(ISSUER);
    const entra = await register(ENTRA_TEMPLATE.replace('{tenantid}', TENANT_A));
    const context = await browser.newContext();
    t.teardown(() => context.close());
    const page = await context.newPage();
    await page.goto(op.show([`${service}/logout/frontchannel?iss=${encodeURIComponent(ISSUER)}&sid=${spec.sid}`, `${service}/logout/frontchannel/entra?sid=${entra.sid}`]), { waitUntil: 'load' });
    const frames = page.frames().filter((f) => f !== page.mainFrame());
    t.equal(frames.length, 2);
    for (const frame of frames) t.match(await frame.content(), /Signed out\./, `the provider may frame ${new URL(frame.url()).pathname}`);
    await svc.app.logouts.settled(); // the page answers once the logout is journaled; the sweep follows
    t.equal(await svc.stores.sessions.get(spec.id), null, 'the spec-form session ended');
    t.equal(await svc.stores.sessions.get(entra.id), null, 'the Entra-form session ended');
    t.same(await context.cookies(), [], 'no cookie was needed or set');
  });

  t.test('a page from an origin not in frontchannelOrigins may not frame ours', async (t) => {
    const s = await register(ISSUER);
    const context = await browser.newContext();
    t.teardown(() => context.close());
    const page = await context.newPage();
    await page.goto(stranger.show([`${service}/logout/frontchannel/idp?sid=${s.sid}`]), { waitUntil: 'load' });
    const frame = page.frames().find((f) => f !== page.mainFrame())!;
    t.notMatch(await frame.content().catch(() => ''), /Signed out\./, 'Chromium refused to render it (CSP frame-ancestors)');
    t.match(frame.url(), /^chrome-error:/, `the frame shows Chromium's error page (${frame.url()})`);
    t.equal(await svc.stores.sessions.get(s.id), null, 'the request itself still reached the service: the session ended');
  });
}
