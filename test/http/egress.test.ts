import t, { type Test } from 'tap';
import { createServer, request } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { once } from 'node:events';
import { egressFetch } from '../../src/egress.js';
import { loggedApp } from '../helpers/logged-service.js';
import { TestProvider } from '../helpers/provider.js';
import { ISSUER, ORDERS, postLogoutToken } from '../helpers/service.js';

// Behind a corporate egress proxy: the issuers' keys and discovery go through HTTPS_PROXY/HTTP_PROXY
// unless NO_PROXY names the host; a failed key fetch logs its cause, and the answer never carries it.

/** A forward proxy on loopback (CONNECT tunnels, and absolute-form requests), recording each target. */
async function proxy(t: Test): Promise<{ url: string; targets: string[] }> {
  const targets: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    targets.push(req.url!);
    const upstream = request(req.url!, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  server.on('connect', (req, client: Socket, head: Buffer) => {
    targets.push(req.url!);
    const [host, port] = req.url!.split(':');
    const upstream = connect(Number(port), host!, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client).pipe(upstream);
    });
    upstream.on('error', () => client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n'));
    client.on('error', () => upstream.destroy());
    sockets.add(client).add(upstream);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, targets };
}

t.test('without a proxy in the environment the global fetch is used', async (t) => {
  t.equal(egressFetch({}), fetch);
});

t.test('the JWKS fetch goes through HTTP_PROXY/HTTPS_PROXY, and straight to a host NO_PROXY names', async (t) => {
  const provider = await TestProvider.start();
  t.teardown(() => provider.close());
  const { url, targets } = await proxy(t);
  const host = new URL(provider.jwksUri).host;

  const proxied = await loggedApp(t, { jwksUri: provider.jwksUri, fetch: egressFetch({ HTTP_PROXY: url, https_proxy: url }) });
  t.equal((await postLogoutToken(proxied.app, await provider.sign(provider.claims(ISSUER, ORDERS)))).statusCode, 200, 'the logout verified with keys fetched through the proxy');
  t.ok(
    targets.some((target) => target.includes(host)),
    `the proxy carried the key fetch (${targets.join(', ')})`,
  );
  const fetches = provider.jwksFetches;
  t.ok(fetches >= 1);

  targets.length = 0;
  const direct = await loggedApp(t, { jwksUri: provider.jwksUri, fetch: egressFetch({ HTTP_PROXY: url, NO_PROXY: '127.0.0.1' }) });
  t.equal((await postLogoutToken(direct.app, await provider.sign(provider.claims(ISSUER, ORDERS)))).statusCode, 200);
  t.ok(provider.jwksFetches > fetches, 'the keys were fetched again');
  t.same(targets, [], 'not through the proxy: NO_PROXY names the host');
});

t.test('a failed key fetch logs its cause once (where, why), and the answer says only that the keys are unavailable', async (t) => {
  const { url } = await proxy(t);
  const provider = await TestProvider.start();
  const jwksUri = provider.jwksUri;
  await provider.close(); // nothing listens there any more
  const signer = await TestProvider.start();
  t.teardown(() => signer.close());
  const { app, lines } = await loggedApp(t, { jwksUri, fetch: egressFetch({ HTTP_PROXY: url }) });
  const first = await postLogoutToken(app, await signer.sign(signer.claims(ISSUER, ORDERS)));
  const second = await postLogoutToken(app, await signer.sign(signer.claims(ISSUER, ORDERS)));
  for (const res of [first, second]) t.same([res.statusCode, res.json().error_description], [400, 'the signing keys of the issuer are unavailable']);
  t.notMatch(first.body, /ECONNREFUSED|502|127\.0\.0\.1/, 'no cause in the answer');
  const began = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => String(l.msg).startsWith('outage began') && l.where === 'keys of idp');
  t.equal(began.length, 1, 'logged once');
  t.match(String(began[0]?.reason), /502|ECONNREFUSED|answered/, `with its cause (${String(began[0]?.reason)})`);
});
