/**
 * The ceiling: Fastify 5, a form-body parser and jose's jwtVerify against a local key — HTTP plus the
 * signature check and nothing else. No logout receiver can beat it on the same machine.
 */
import Fastify from 'fastify';
import formbody from '@fastify/formbody';
import { importJWK, jwtVerify, type JWK } from 'jose';

const key = await importJWK(JSON.parse(process.env.BENCH_PUBLIC_JWK!) as JWK, 'RS256');
const app = Fastify({ logger: false });
await app.register(formbody);
app.post('/logout/backchannel', async (request, reply) => {
  try {
    await jwtVerify((request.body as { logout_token: string }).logout_token, key, { algorithms: ['RS256'] });
    return reply.code(200).send();
  } catch {
    return reply.code(400).send();
  }
});
const address = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
process.stdout.write(`listening on ${address}\n`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
