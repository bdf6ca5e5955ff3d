/**
 * The front channel's ceiling: Fastify 5 answering the service's front-channel page with the headers its
 * route sends (helmet's security headers, the page's CSP, no caching) — HTTP plus the page and nothing
 * else: no store, no check of `iss` or `sid`, no rate limiter. No front-channel route can beat it on the
 * same machine. The bench compares its answer with the service's before loading either.
 *
 * Env: BENCH_FRAME_ANCESTORS — the issuer's `frontchannelOrigins`, space-separated. PORT — 0 for any.
 */
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { SECURITY_HEADERS } from '../src/http/security-headers.js';

// The page of src/http/routes/frontchannel.ts, byte for byte (the bench checks it against the service's answer).
const PAGE = '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Signed out</title></head><body><p>Signed out.</p></body></html>\n';
const { 'x-frame-options': _framing, ...security } = SECURITY_HEADERS;
const headers = {
  ...security,
  'cache-control': 'no-cache, no-store',
  pragma: 'no-cache',
  'content-security-policy': `default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors ${process.env.BENCH_FRAME_ANCESTORS || "'none'"}`,
  'content-type': 'text/html; charset=utf-8',
};

const app = Fastify({ logger: false });
const page = (_request: FastifyRequest, reply: FastifyReply) => reply.headers(headers).send(PAGE);
app.get('/logout/frontchannel', page);
app.get('/logout/frontchannel/:issuerName', page);
const address = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
process.stdout.write(`listening on ${address}\n`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
