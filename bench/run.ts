/**
 * npm run bench [-- --quick] [--json] [--dry-run]
 *
 * Measures, in one run and as ratios, how close the back-channel endpoint comes to what this machine
 * can do at all (the verify-only ceiling). Each server and the load generator run in processes of
 * their own. Measured so far: verifyCeiling, joseVerifiesPerSecond, backchannelNoSession, rssMb.
 * Not yet: backchannelSweep, scale, peer (see bench/README.md).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, exportJWK, jwtVerify } from 'jose';
import { stringify } from 'yaml';

const args = new Set(process.argv.slice(2));
const quick = args.has('--quick');
const dryRun = args.has('--dry-run');
const seconds = dryRun ? 1 : quick ? 5 : 15;
const connections = 32;
const root = new URL('..', import.meta.url).pathname;
const ISSUER = 'https://bench-idp.example.test';
const CLIENT = 'bench-app';

const log = (line: string) => process.stderr.write(`${line}\n`);

/** The provider's key, its JWKS on 127.0.0.1, and RS256 logout tokens signed on libuv's thread pool. */
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...(await exportJWK(publicKey)), kid: 'bench', alg: 'RS256', use: 'sig' };
const jwks = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
jwks.listen(0, '127.0.0.1');
await once(jwks, 'listening');
const jwksUri = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks`;

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const header = b64({ alg: 'RS256', kid: 'bench', typ: 'logout+jwt' });
function token(): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const input = `${header}.${b64({ iss: ISSUER, aud: CLIENT, iat: now, exp: now + 3600, jti: randomUUID(), sid: `sid-${randomUUID()}`, events: { 'http://schemas.openid.net/event/backchannel-logout': {} } })}`;
  return new Promise((resolve, reject) => sign('sha256', Buffer.from(input), privateKey, (err, sig) => (err ? reject(err) : resolve(`${input}.${sig.toString('base64url')}`))));
}
async function tokens(count: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < count; i += 256) out.push(...(await Promise.all(Array.from({ length: Math.min(256, count - i) }, token))));
  return out;
}

const dir = await mkdtemp(join(tmpdir(), 'lr-bench-'));
const children: ChildProcess[] = [];
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));

/** Starts a server process and waits for its "listening on" line. */
async function startServer(command: string, argv: string[], env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(command, argv, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const url = await new Promise<string>((resolve, reject) => {
    let seen = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      seen += chunk;
      const match = /listening on (http:\/\/[^"\s]+)/.exec(seen);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`${argv.join(' ')} exited with ${code}`)));
  });
  child.stdout!.resume();
  return { child, url };
}

interface LoadResult { rps: number; requests: number; p50Ms: number; p99Ms: number; non2xx: number; errors: number; timeouts: number; tokensUsed: number; tokensAvailable: number }

/** Runs the load generator in its own process against `url` with the given tokens. */
async function load(url: string, list: string[], name: string): Promise<LoadResult> {
  const file = join(dir, `${name}.tokens`);
  await writeFile(file, list.join('\n'));
  const child = spawn(join(root, 'node_modules/.bin/tsx'), [join(root, 'bench/load.ts'), `${url}/logout/backchannel`, file, String(seconds), String(connections)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c));
  await once(child, 'exit');
  return JSON.parse(out.trim().split('\n').at(-1)!) as LoadResult;
}

/** Peak resident memory of a process (VmHWM), in MB. */
async function peakRssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Math.round(Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024);
}

/** jose verifies per second with 64 in flight, in this process (one core). */
async function joseVerifiesPerSecond(sample: string[]): Promise<number> {
  const keys = createLocalJWKSet({ keys: [jwk] });
  const until = Date.now() + (dryRun ? 300 : 2000);
  let done = 0;
  let i = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (Date.now() < until) {
        await jwtVerify(sample[i++ % sample.length]!, keys, { algorithms: ['RS256'] });
        done++;
      }
    }),
  );
  return Math.round(done / ((dryRun ? 300 : 2000) / 1000));
}

// Enough distinct tokens for the fastest run we expect on this machine (replays would be refused).
const perRun = dryRun ? 8_000 : Math.round(seconds * 6_000);
log(`bench: ${seconds} s per run, ${connections} connections, ${cpus().length} cores; signing ${perRun * 2} RS256 tokens…`);
const [ceilingTokens, serviceTokens] = [await tokens(perRun), await tokens(perRun)];

const verifier = await startServer(join(root, 'node_modules/.bin/tsx'), [join(root, 'bench/verify-server.ts')], { BENCH_PUBLIC_JWK: JSON.stringify(jwk), PORT: '0' });
const ceiling = await load(verifier.url, ceilingTokens, 'ceiling');
verifier.child.kill('SIGTERM');

const config = join(dir, 'service.yaml');
await writeFile(
  config,
  stringify({
    store: { kind: 'memory' },
    logLevel: 'warn',
    limits: { publicRequestsPerMinute: 100_000_000 },
    issuers: [{ name: 'bench', issuer: ISSUER, jwksUri, algorithms: ['RS256'] }],
    apps: [{ clientId: CLIENT, name: 'bench-web', issuers: ['bench'], tokenCache: { kind: 'memory' } }],
  }),
);
// The service logs as in production (info: one line per request) unless BENCH_LOG_LEVEL says otherwise;
// its "listening on" line is an info line, so readiness is read from /healthz instead.
const logLevel = process.env.BENCH_LOG_LEVEL ?? 'info';
const port = await new Promise<number>((resolve) => {
  const probe = createServer().listen(0, '127.0.0.1', () => {
    const { port: free } = probe.address() as AddressInfo;
    probe.close(() => resolve(free));
  });
});
const serviceChild = spawn('node', ['dist/main.js', '--config', config], { cwd: root, env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: logLevel }, stdio: ['ignore', 'ignore', 'inherit'] });
children.push(serviceChild);
const service = { child: serviceChild, url: `http://127.0.0.1:${port}` };
for (let ready = false; !ready; ) {
  ready = await fetch(`${service.url}/healthz`).then((r) => r.ok, () => false);
  if (!ready) await new Promise((resolve) => setTimeout(resolve, 50)); // a process coming up sends no event
}
const noSession = await load(service.url, serviceTokens, 'no-session');
const rssMb = await peakRssMb(service.child.pid!);
service.child.kill('SIGTERM');
const verifies = await joseVerifiesPerSecond(ceilingTokens.slice(0, 500));

const result = {
  machine: { cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version },
  serviceLogLevel: logLevel,
  secondsPerRun: seconds,
  connections,
  verifyCeiling: { rps: Math.round(ceiling.rps), p99Ms: ceiling.p99Ms, non2xx: ceiling.non2xx },
  joseVerifiesPerSecond64InFlight: verifies,
  backchannelNoSession: { rps: Math.round(noSession.rps), p99Ms: noSession.p99Ms, non2xx: noSession.non2xx, errors: noSession.errors, tokensUsed: noSession.tokensUsed, tokensAvailable: noSession.tokensAvailable },
  ratioNoSessionToCeiling: Number((noSession.rps / ceiling.rps).toFixed(3)),
  rssMb,
  notYetMeasured: ['backchannelSweep', 'scale', 'peer'],
};
await rm(dir, { recursive: true, force: true });
jwks.close();

const rows = [
  ['verify-only ceiling (Fastify + formbody + jose)', `${result.verifyCeiling.rps} req/s`, `p99 ${ceiling.p99Ms} ms`],
  ['jose jwtVerify, 64 in flight, one core', `${verifies} /s`, ''],
  [`back-channel, no session (memory store, log ${logLevel})`, `${result.backchannelNoSession.rps} req/s`, `p99 ${noSession.p99Ms} ms`],
  ['ratio no-session / ceiling', `${result.ratioNoSessionToCeiling}`, 'target ≥ 0.8'],
  ['service peak RSS', `${rssMb} MB`, 'target ≤ 150'],
];
for (const [a, b, c] of rows) process.stdout.write(`${a!.padEnd(50)} ${b!.padStart(14)}  ${c}\n`);
if (noSession.non2xx > 0 || noSession.tokensUsed > noSession.tokensAvailable) process.stdout.write(`WARNING: ${noSession.non2xx} non-2xx answers (tokens used ${noSession.tokensUsed} of ${noSession.tokensAvailable}: reused tokens are replays)\n`);
if (args.has('--json')) process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
