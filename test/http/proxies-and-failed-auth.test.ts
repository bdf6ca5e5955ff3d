import t from 'tap';
import { READ_KEY, startService } from '../helpers/service.js';

// Behind a proxy the limits work (server.trustProxy as a list), and failed authentications are limited.
const PROXY = '10.20.0.1';
const svc = await startService((f) => {
  f.server = { trustProxy: [PROXY, '192.0.2.0/24'] };
  f.limits = { publicRequestsPerMinute: 2, failedAuthenticationsPerMinute: 3 };
});
t.teardown(() => svc.close());
const { app } = svc;
const frontchannel = (remoteAddress: string, forwardedFor?: string) => app.inject({ url: '/logout/frontchannel/idp?sid=x', remoteAddress, ...(forwardedFor ? { headers: { 'x-forwarded-for': forwardedFor } } : {}) });

t.test('behind a trusted proxy, two clients have budgets of their own: the client address is the one the proxy saw', async (t) => {
  for (let i = 0; i < 2; i++) t.equal((await frontchannel(PROXY, '203.0.113.1')).statusCode, 200);
  t.equal((await frontchannel(PROXY, '203.0.113.1')).statusCode, 429, 'the first client is limited');
  t.equal((await frontchannel(PROXY, '203.0.113.2')).statusCode, 200, 'the second client behind the same proxy is not');
  t.equal((await frontchannel('192.0.2.77', '203.0.113.3')).statusCode, 200, 'a proxy in a trusted CIDR is believed too');
});

t.test('a peer that is not a trusted proxy cannot choose its bucket through X-Forwarded-For', async (t) => {
  const attacker = '198.51.100.9';
  for (let i = 0; i < 2; i++) t.equal((await frontchannel(attacker, `203.0.113.${100 + i}`)).statusCode, 200);
  t.equal((await frontchannel(attacker, '203.0.113.200')).statusCode, 429, 'limited as itself, whatever it forwards');
});

t.test('failed authentications count against a per-address budget and get 429, before any key is checked', async (t) => {
  const call = (authorization: string, remoteAddress: string) => app.inject({ url: '/v1/apps', headers: { authorization }, remoteAddress });
  for (let i = 0; i < 3; i++) t.equal((await call(`Bearer guess-${i}`, '198.51.100.50')).statusCode, 401);
  const limited = await call('Bearer guess-4', '198.51.100.50');
  t.equal(limited.statusCode, 429);
  t.equal(limited.json().error, 'too_many_requests');
  t.ok(Number(limited.headers['retry-after']) > 0);
  t.equal((await call(`Bearer ${READ_KEY}`, '198.51.100.50')).statusCode, 429, 'even a right key from that address waits: guesses get no answer');
  t.equal((await call(`Bearer ${READ_KEY}`, '198.51.100.51')).statusCode, 200, 'another address is not limited');
  t.equal((await call('Bearer wrong', '198.51.100.51')).statusCode, 401);
});
