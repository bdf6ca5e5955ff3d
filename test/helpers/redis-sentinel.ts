import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { Test } from 'tap';
import { killNow, pollUntil, startUntil } from './process.js';
import { freePort, replicaSynced, withClient } from './redis.js';

/** Whether Debian's redis-sentinel is here (the Sentinel suite needs it; `.ci/run` installs it). */
export function sentinelAvailable(): boolean {
  return spawnSync('redis-sentinel', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** For a test file of the Sentinel suite: skipped loudly without redis-sentinel, failed under CI=true. */
export function requireSentinel(t: Test): boolean {
  if (sentinelAvailable()) return true;
  if (process.env.CI === 'true') {
    t.fail('redis-sentinel is required under CI: apt-get install -y redis-sentinel');
    return false;
  }
  process.stderr.write('##### redis-sentinel not installed (apt-get install -y redis-sentinel): skipping the Sentinel suite #####\n');
  t.plan(0, 'redis-sentinel not installed');
  return false;
}

/**
 * One master, one replica and three sentinels on free loopback ports, nothing on disk but the sentinels'
 * own config files (in a temporary folder), as an operator would run them; every process is killed by stop().
 */
export class SentinelDeployment {
  readonly name = 'lrtest';
  private constructor(
    private readonly dir: string,
    readonly redisPorts: number[],
    readonly sentinelPorts: number[],
    private readonly children: ChildProcess[],
  ) {}

  static async start(): Promise<SentinelDeployment> {
    const dir = await mkdtemp(join(tmpdir(), 'lr-sentinel-'));
    const children: ChildProcess[] = [];
    const redisPorts = [await freePort(), await freePort()];
    const sentinelPorts = [await freePort(), await freePort(), await freePort()];
    const deployment = new SentinelDeployment(dir, redisPorts, sentinelPorts, children);
    try {
      // --dir: a replica's full sync writes an RDB file even without persistence (into the deployment's folder).
      const common = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
      children.push(await startUntil('redis-server', ['--port', String(redisPorts[0]), ...common, '--dbfilename', `dump-${redisPorts[0]}.rdb`], /Ready to accept connections/));
      children.push(await startUntil('redis-server', ['--port', String(redisPorts[1]), ...common, '--dbfilename', `dump-${redisPorts[1]}.rdb`, '--replicaof', '127.0.0.1', String(redisPorts[0])], /Ready to accept connections/));
      for (const [i, port] of sentinelPorts.entries()) {
        const file = join(dir, `sentinel-${i}.conf`);
        await writeFile(
          file,
          [
            `port ${port}`,
            'bind 127.0.0.1',
            `dir ${dir}`,
            `sentinel monitor ${deployment.name} 127.0.0.1 ${redisPorts[0]} 2`,
            `sentinel down-after-milliseconds ${deployment.name} 1000`,
            `sentinel failover-timeout ${deployment.name} 4000`,
            `sentinel parallel-syncs ${deployment.name} 1`,
            '',
          ].join('\n'),
        );
        children.push(await startUntil('redis-sentinel', [file], /Sentinel ID is|monitor master/));
      }
      await deployment.until(async () => (await deployment.replicaCount()) === 1 && (await deployment.sentinelsKnown()) === 2, 20_000);
    } catch (err) {
      await deployment.stop();
      throw err;
    }
    return deployment;
  }

  get nodes(): string[] {
    return this.sentinelPorts.map((port) => `127.0.0.1:${port}`);
  }

  private sentinel<T>(run: (client: Redis) => Promise<T>): Promise<T> {
    return withClient(this.sentinelPorts[0]!, run);
  }

  /** The port of the master the sentinels announce now. */
  async masterPort(): Promise<number> {
    return this.sentinel(async (c) => Number(((await c.call('SENTINEL', 'get-master-addr-by-name', this.name)) as string[])[1]));
  }

  private async replicaCount(): Promise<number> {
    return this.sentinel(async (c) => ((await c.call('SENTINEL', 'replicas', this.name)) as unknown[]).length);
  }

  private async sentinelsKnown(): Promise<number> {
    return this.sentinel(async (c) => ((await c.call('SENTINEL', 'sentinels', this.name)) as unknown[]).length);
  }

  /** `SENTINEL FAILOVER`: the replica is promoted; resolves once the sentinels announce the new master. */
  async failover(): Promise<number> {
    const before = await this.masterPort();
    await this.sentinel((c) => c.call('SENTINEL', 'failover', this.name));
    await this.until(async () => (await this.masterPort()) !== before, 20_000);
    return this.masterPort();
  }

  /** kill -9 of the process listening on the master's port now. */
  async killMaster(): Promise<number> {
    const port = await this.masterPort();
    const child = this.children[this.redisPorts.indexOf(port)]!;
    await killNow(child);
    return port;
  }

  /**
   * Starts the redis-server of that port again, as a replica of the current master. A node without
   * persistence must never come back as a master: it would be empty, and a sentinel that still counts it
   * as the master could make the others resync from it (Redis's own documentation warns of this).
   */
  async restart(port: number): Promise<void> {
    const i = this.redisPorts.indexOf(port);
    const master = await this.masterPort();
    // Never promotable (priority 0): under the whole suite's load a sentinel can judge the busy master down
    // (down-after 1 s) while this node is still empty or syncing, and promoting it would lose everything.
    this.children[i] = await startUntil(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, '--dbfilename', `dump-${port}.rdb`, '--replicaof', '127.0.0.1', String(master), '--replica-priority', '0'],
      /Ready to accept connections/,
    );
    await replicaSynced(port);
    await this.until(async () => (await this.replicaCount()) >= 1, 20_000);
  }

  until(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
    return pollUntil(check, timeoutMs, 'the Sentinel deployment');
  }

  async stop(): Promise<void> {
    await Promise.all(this.children.map(killNow));
    await rm(this.dir, { recursive: true, force: true });
  }
}
