import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { Test } from 'tap';
import { pollUntil } from './process.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

async function reachable(url: string): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/**
 * A Redis client for a test file, with a key prefix of its own that is deleted at the end. Without a
 * reachable Redis the file is skipped with one loud line — except under CI=true, where that fails.
 */
export async function redisForTest(t: Test): Promise<{ redis: Redis; prefix: string } | undefined> {
  if (!(await reachable(REDIS_URL))) {
    const why = `Redis is not reachable at ${REDIS_URL}`;
    if (process.env.CI === 'true') {
      t.fail(`${why}: CI needs it (start it with: redis-server --daemonize yes --port 6379 --save '')`);
      return undefined;
    }
    t.comment(`##### SKIPPING the Redis suite: ${why} #####`);
    t.plan(0, why);
    return undefined;
  }
  const redis = new Redis(REDIS_URL);
  const prefix = `lr-test-${randomUUID()}:`;
  t.teardown(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
  });
  return { redis, prefix };
}

/** A free loopback port (asked of the OS, then released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** A private redis-server process this test can stop and start again on the same port. */
export class RedisServer {
  private child?: ChildProcess;
  private constructor(
    readonly port: number,
    /** A folder for an append-only file fsynced on every write: a restart keeps every acknowledged write. */
    private readonly dataDir?: string,
  ) {}

  static async start(options: { persistent?: boolean } = {}): Promise<RedisServer> {
    const dir = options.persistent ? await mkdtemp(join(tmpdir(), 'lr-redis-')) : undefined;
    const server = new RedisServer(await freePort(), dir);
    await server.start();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    // Without persistence a replica's full sync still writes an RDB file: into the temporary folder, not the working directory.
    const persistence = this.dataDir ? ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', this.dataDir] : ['--appendonly', 'no', '--dir', tmpdir(), '--dbfilename', `lr-redis-${this.port}.rdb`];
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', ...persistence], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start on ${this.port}`)), 10_000);
      child.stdout!.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with ${code}`));
      });
    });
    child.stdout!.resume();
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
    if (!this.dataDir) await rm(join(tmpdir(), `lr-redis-${this.port}.rdb`), { force: true });
  }

  /** SIGSTOP: the process stays, answers nothing and acknowledges no replication (a replica stalled). */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }
  resume(): void {
    this.child?.kill('SIGCONT');
  }

  /** Stops for good and removes its data. */
  async remove(): Promise<void> {
    await this.stop();
    if (this.dataDir) await rm(this.dataDir, { recursive: true, force: true });
  }

  static available(): Promise<boolean> {
    return new Promise((resolve) => {
      const probe = spawn('redis-server', ['--version'], { stdio: 'ignore' });
      probe.on('error', () => resolve(false));
      probe.on('exit', (code) => resolve(code === 0));
    });
  }
}

/** Connects to the loopback Redis (or sentinel) at `port`, runs `run`, and disconnects: for asking a node that may be down, failing fast. */
export async function withClient<T>(port: number, run: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    return await run(client);
  } finally {
    client.disconnect();
  }
}

/** Resolves once the Redis at `port` is a replica whose link to its master is up (synced). */
export function replicaSynced(port: number): Promise<void> {
  return pollUntil(() => withClient(port, async (c) => (await c.info('replication')).includes('master_link_status:up')), 20_000, `the replica on ${port}`);
}

/** A private master and a replica of it, replicating once this resolves; both stop when the test ends. */
export async function startReplicated(t: Test): Promise<{ master: RedisServer; replica: RedisServer }> {
  const master = await RedisServer.start();
  const replica = await RedisServer.start();
  t.teardown(async () => {
    await replica.stop();
    await master.stop();
  });
  await withClient(replica.port, (c) => c.call('REPLICAOF', '127.0.0.1', String(master.port)));
  await replicaSynced(replica.port);
  return { master, replica };
}
