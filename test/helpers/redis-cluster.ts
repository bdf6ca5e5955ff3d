import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withClient } from './redis.js';
import { killNow, pollUntil, startUntil } from './process.js';

/** A free port whose cluster bus port (port + 10000) is free too. */
async function freeClusterPort(): Promise<number> {
  const listen = (port: number) =>
    new Promise<number | undefined>((resolve) => {
      const server = createServer().once('error', () => resolve(undefined));
      server.listen(port, '127.0.0.1', () => {
        const { port: got } = server.address() as { port: number };
        server.close(() => resolve(got));
      });
    });
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 30000);
    if ((await listen(port)) && (await listen(port + 10000))) return port;
  }
}

const started = (port: number, dir: string): Promise<ChildProcess> =>
  startUntil('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', '1000', '--dir', dir], /Ready to accept connections/);

/** Three masters with a replica each, on free loopback ports (and their bus ports), nothing kept but their node files in a temporary folder. */
export class ClusterDeployment {
  private constructor(
    private readonly dir: string,
    readonly ports: number[],
    private readonly children: Map<number, ChildProcess>,
  ) {}

  static available(): boolean {
    return spawnSync('redis-cli', ['--version'], { stdio: 'ignore' }).status === 0;
  }

  static async start(): Promise<ClusterDeployment> {
    const dir = await mkdtemp(join(tmpdir(), 'lr-cluster-'));
    const ports: number[] = [];
    for (let i = 0; i < 6; i++) ports.push(await freeClusterPort());
    const deployment = new ClusterDeployment(dir, ports, new Map());
    try {
      for (const port of ports) deployment.children.set(port, await started(port, dir));
      const create = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '1', '--cluster-yes'], { encoding: 'utf8', timeout: 30_000 });
      if (create.status !== 0) throw new Error(`redis-cli --cluster create: ${create.stdout.slice(-400)} ${create.stderr}`);
      await deployment.until(async () => (await Promise.all(ports.map((p) => deployment.info(p)))).every((info) => info.includes('cluster_state:ok')), 30_000);
      // A replica takes over only once it has synced with its master.
      await deployment.until(async () => {
        const replication = await Promise.all(ports.map((p) => withClient(p, async (c) => c.info('replication'))));
        return replication.filter((r) => r.includes('role:slave')).length === 3 && replication.every((r) => r.includes('role:master') || r.includes('master_link_status:up'));
      }, 30_000);
    } catch (err) {
      await deployment.stop();
      throw err;
    }
    return deployment;
  }

  get nodes(): string[] {
    return this.ports.map((port) => `127.0.0.1:${port}`);
  }

  private info(port: number): Promise<string> {
    return withClient(port, async (c) => (await c.call('CLUSTER', 'INFO')) as string);
  }

  /** The port of the master that holds `key`'s slot now. */
  async masterOf(key: string): Promise<number> {
    for (const port of this.ports) {
      const found = await withClient(port, async (c) => {
        const slot = (await c.call('CLUSTER', 'KEYSLOT', key)) as number;
        const slots = (await c.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
        return slots.find(([from, to]) => slot >= from && slot <= to)?.[2][1];
      }).catch(() => undefined);
      if (found) return found;
    }
    throw new Error('no node answers');
  }

  /** kill -9 of the master holding `key`; resolves once a replica has taken its slots over. */
  async killMasterOf(key: string): Promise<number> {
    const port = await this.masterOf(key);
    const child = this.children.get(port)!;
    await killNow(child);
    await this.until(async () => (await this.masterOf(key)) !== port, 30_000);
    return port;
  }

  until(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
    return pollUntil(check, timeoutMs, 'the Cluster');
  }

  async stop(): Promise<void> {
    await Promise.all([...this.children.values()].map(killNow));
    await rm(this.dir, { recursive: true, force: true });
  }
}
