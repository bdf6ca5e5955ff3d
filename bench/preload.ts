/**
 * What the sweep and scale runs find in Redis before they start: sessions written by the service's own
 * Redis session store, and the apps' msal-node token caches — one real msal-node cache (made by
 * msal-node itself through the test suite's Entra stand-in) whose secrets are padded to Entra's sizes,
 * copied per user.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Session } from '../src/core/model.js';
import { importSessions } from '../src/stores/redis/sessions.js';
import { MemoryTokenCacheStore } from '../src/token-caches/memory.js';
import { FakeEntra, MsalWebApp } from '../simulators/msal-app.js';

export const TENANT = '5b0f6c0e-2d4c-4c6b-9a53-0d6b6c7e2a11';
const TEMPLATE_OID = '0a0a0a0a-0b0b-4c0c-8d0d-0e0e0e0e0e0e';
const SECTIONS = ['Account', 'IdToken', 'AccessToken', 'RefreshToken'] as const;
/** Entra's usual sizes: access tokens of 1.5–2.5 KB, refresh tokens of about 1.4 KB, ID tokens of about 1.3 KB. */
const SECRET_SIZES: Record<string, number> = { AccessToken: 1_900, RefreshToken: 1_400, IdToken: 1_300 };

type Blob = Record<string, Record<string, unknown>>;

export interface BenchUser {
  oid: string;
  homeAccountId: string;
  sid: string;
}

/** The n-th user of a run (`run` keeps the runs' users apart). */
export function benchUser(run: number, n: number): BenchUser {
  const oid = `${run.toString(16).padStart(8, '0')}-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
  return { oid, homeAccountId: `${oid}.${TENANT}`, sid: `sid-${run}-${n}` };
}

/** One app's cache entries for a user, as msal-node writes them, as text with the template user's oid in it. */
async function templateFor(clientId: string): Promise<string> {
  const store = new MemoryTokenCacheStore();
  const app = new MsalWebApp(clientId, 'partition', store, new FakeEntra());
  await app.signIn({ oid: TEMPLATE_OID, homeTenant: TENANT, name: 'Bench', sid: 'template' });
  const blob = JSON.parse((await store.get('partition'))!) as Blob;
  for (const [section, size] of Object.entries(SECRET_SIZES)) for (const entry of Object.values(blob[section] ?? {}) as { secret: string }[]) entry.secret = entry.secret.padEnd(size, 'A');
  return JSON.stringify(blob);
}

export interface CacheLayout {
  /** Apps whose template is `msal:{clientId}:{homeAccountId}`: one partition per account. */
  perAccount: string[];
  /** The app keeping every account in the one partition `sharedKey`. */
  shared: { clientId: string; key: string };
}

/** Writes each user's partitions in the per-account apps and, unless `withShared` is false, all users into the shared partition. */
export async function preloadCaches(redis: Redis, layout: CacheLayout, users: BenchUser[], withShared = true): Promise<{ sharedBytes: number }> {
  for (const clientId of layout.perAccount) {
    const template = await templateFor(clientId);
    for (let i = 0; i < users.length; i += 1_000) {
      const pipeline = redis.pipeline();
      for (const u of users.slice(i, i + 1_000)) pipeline.set(`msal:${clientId}:${u.homeAccountId}`, template.replaceAll(TEMPLATE_OID, u.oid), 'EX', 86_400);
      await pipeline.exec();
    }
  }
  if (!withShared) return { sharedBytes: 0 };
  const template = await templateFor(layout.shared.clientId);
  const shared = JSON.parse(template) as Blob;
  for (const section of SECTIONS) shared[section] = {};
  for (const u of users) {
    const own = JSON.parse(template.replaceAll(TEMPLATE_OID, u.oid)) as Blob;
    for (const section of SECTIONS) Object.assign(shared[section]!, own[section]);
  }
  const text = JSON.stringify(shared);
  await redis.set(layout.shared.key, text, 'EX', 86_400);
  return { sharedBytes: Buffer.byteLength(text) };
}

/** Writes `count` sessions in the service's Redis session layout (the store's own bulk import), pipelined. */
export async function preloadSessions(redisUrl: string, keyPrefix: string, count: number, session: (n: number) => Omit<Session, 'id' | 'createdAt' | 'expiresAt'>): Promise<void> {
  const redis = new Redis(redisUrl);
  const createdAt = new Date().toISOString();
  const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
  const batch = 2_000;
  // Two batches in flight: one being written while the next is built.
  let previous: Promise<void> = Promise.resolve();
  for (let i = 0; i < count; i += batch) {
    const sessions = Array.from({ length: Math.min(batch, count - i) }, (_, k) => ({ ...session(i + k), id: randomUUID(), createdAt, expiresAt }));
    await previous;
    previous = importSessions(redis, keyPrefix, sessions);
  }
  await previous;
  await redis.quit();
}
