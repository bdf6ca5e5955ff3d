import { setTimeout as sleep } from 'node:timers/promises';
import { safeMessage } from './errors.js';
import type { AppConfig } from './registrations.js';
import type { AccountRemoval } from './model.js';
import { ForeignPartitionError, type AccountPartitionRemoval, type CacheFormat, type TokenCacheStore } from './token-cache.js';

/** One registered app and the store its MSAL cache partitions live in. */
export interface AppTokenCache {
  app: AppConfig;
  store: TokenCacheStore;
}

/** An MSAL account to remove, with the app-specific partition keys its sessions registered. */
export interface AccountToSweep {
  homeAccountId: string;
  /** clientId → the `cacheKey`s that app registered for this account. */
  cacheKeys: Map<string, Set<string>>;
}

export interface SweeperOptions {
  /** The formats a partition may be in, asked in order (the first that recognizes a blob removes from it). */
  formats: readonly CacheFormat[];
  /** Compare-and-set attempts per partition before the removal counts as failed. */
  maxConflicts?: number;
}

/** `{homeAccountId}` etc. filled in; `{oid}` and `{tenantId}` are the two halves of `uid.utid`. */
export function partitionKey(template: string, clientId: string, homeAccountId: string, cacheKey?: string): string | undefined {
  if (template.includes('{cacheKey}') && cacheKey === undefined) return undefined;
  const dot = homeAccountId.lastIndexOf('.');
  const values: Record<string, string> = {
    homeAccountId,
    clientId,
    oid: dot > 0 ? homeAccountId.slice(0, dot) : homeAccountId,
    tenantId: dot > 0 ? homeAccountId.slice(dot + 1) : '',
    cacheKey: cacheKey ?? '',
  };
  return template.replace(/\{(homeAccountId|clientId|oid|tenantId|cacheKey)\}/g, (_, name: string) => values[name] ?? '');
}

/** A key template that names the account (`{homeAccountId}`, or both its halves) gives each account a partition of its own. */
const namesOneAccount = (template: string): boolean => template.includes('{homeAccountId}') || (template.includes('{oid}') && template.includes('{tenantId}'));

/** Which account a removal took out of which app's partition: all a later pass needs to do it again. */
export type PartitionAddress = Pick<AccountRemoval, 'clientId' | 'homeAccountId' | 'partitionKey'>;

const NO_CACHE_KEY = 'the cache key needs a {cacheKey} this app did not register';

type PartitionOutcome = Pick<AccountRemoval, 'outcome' | 'detail' | 'removedEntries' | 'partitionDeleted'>;

/** A caller waiting for one account's removal from one partition. */
interface Waiter {
  homeAccountId: string;
  settle(result: PartitionOutcome): void;
}

/** One partition key of one store while removals from it are pending: the callers of the next round. */
interface Lane {
  queued: Waiter[];
}

/** The longest pause between two compare-and-set attempts on a partition that keeps changing. */
const MAX_CONFLICT_PAUSE_MS = 64;

/**
 * Removes accounts from the MSAL token caches of every registered app.
 *
 * Removals from the same partition key of the same store are coalesced: those asked while a round on
 * that key is pending or running join the next round, and a round is one read, one batch removal and
 * one compare-and-set for all of them. Shared partitions (every account in one key) are large, and
 * rewriting one per account made concurrent logouts conflict with each other.
 */
export class TokenCacheSweeper {
  private readonly maxConflicts: number;
  private readonly formats: readonly CacheFormat[];
  private readonly lanes = new Map<TokenCacheStore, Map<string, Lane>>();
  /** Whether a partition key of the store is one account's (its app's template names the account). */
  private readonly oneAccountPerPartition = new Map<TokenCacheStore, boolean>();

  constructor(
    readonly caches: AppTokenCache[],
    options: SweeperOptions,
  ) {
    this.maxConflicts = options.maxConflicts ?? 25;
    this.formats = options.formats;
    for (const { app, store } of caches) this.oneAccountPerPartition.set(store, (this.oneAccountPerPartition.get(store) ?? true) && namesOneAccount(app.tokenCache.key));
  }

  /** Every app at once; the removals in app order, then account order, then partition-key order. */
  async sweep(accounts: AccountToSweep[]): Promise<AccountRemoval[]> {
    const perApp = await Promise.all(
      this.caches.map(({ app, store }) =>
        Promise.all(
          accounts.flatMap((account): Promise<AccountRemoval>[] => {
            const base = { clientId: app.clientId, app: app.name, homeAccountId: account.homeAccountId };
            const keys = this.keysFor(app, account);
            if (keys.length === 0) return [Promise.resolve({ ...base, outcome: 'skipped', detail: NO_CACHE_KEY })];
            return keys.map(async (key) => ({ ...base, partitionKey: key, ...(await this.removeFrom(store, key, account.homeAccountId)) }));
          }),
        ),
      ),
    );
    return perApp.flat();
  }

  /** The same removals again, where an earlier sweep addressed them (a retry, the second pass); in the order given. */
  removeAgain(earlier: readonly PartitionAddress[]): Promise<AccountRemoval[]> {
    return Promise.all(
      earlier.map(async ({ clientId, homeAccountId, partitionKey }): Promise<AccountRemoval> => {
        const cache = this.caches.find((c) => c.app.clientId === clientId);
        const base = { clientId, app: cache?.app.name ?? clientId, homeAccountId };
        if (!cache) return { ...base, outcome: 'skipped', detail: 'this app is no longer registered' };
        if (partitionKey === undefined) return { ...base, outcome: 'skipped', detail: NO_CACHE_KEY };
        return { ...base, partitionKey, ...(await this.removeFrom(cache.store, partitionKey, homeAccountId)) };
      }),
    );
  }

  private keysFor(app: AppConfig, account: AccountToSweep): string[] {
    const template = app.tokenCache.key;
    if (!template.includes('{cacheKey}')) return [partitionKey(template, app.clientId, account.homeAccountId) as string];
    const keys = [...(account.cacheKeys.get(app.clientId) ?? [])].map((k) => partitionKey(template, app.clientId, account.homeAccountId, k));
    return [...new Set(keys.filter((k): k is string => k !== undefined))];
  }

  /** Joins the next round on this store's key; the first caller starts the rounds one event-loop turn later. */
  private removeFrom(store: TokenCacheStore, key: string, homeAccountId: string): Promise<PartitionOutcome> {
    // The batch removal refuses an empty id; refused here, it cannot fail the other callers of its round.
    if (homeAccountId === '') return Promise.resolve({ outcome: 'failed', detail: 'cannot remove: homeAccountId is empty' });
    let lanes = this.lanes.get(store);
    if (!lanes) this.lanes.set(store, (lanes = new Map()));
    let lane = lanes.get(key);
    if (!lane) {
      const started: Lane = { queued: [] };
      lanes.set(key, (lane = started));
      setImmediate(() => void this.drain(store, key, started));
    }
    const queue = lane.queued;
    return new Promise((settle) => queue.push({ homeAccountId, settle }));
  }

  /** Runs rounds until no caller waits, then forgets the key. */
  private async drain(store: TokenCacheStore, key: string, lane: Lane): Promise<void> {
    while (lane.queued.length > 0) await this.round(store, key, lane.queued.splice(0));
    const lanes = this.lanes.get(store)!;
    lanes.delete(key);
    if (lanes.size === 0) this.lanes.delete(store);
  }

  /**
   * Read for update, remove every waiting account, write back; an app's concurrent write makes us start over
   * on its blob with the accounts still to remove. Settles every waiter; never throws.
   */
  private async round(store: TokenCacheStore, key: string, waiters: Waiter[]): Promise<void> {
    let waiting = waiters;
    const settleAll = (result: PartitionOutcome) => {
      for (const w of waiting) w.settle(result);
    };
    const context = { oneAccountPerPartition: this.oneAccountPerPartition.get(store) ?? false };
    try {
      for (let attempt = 1; attempt <= this.maxConflicts; attempt++) {
        // A partition of one account's may go where it is kept, in one step: nothing of it to read and write back.
        const sole =
          attempt === 1 && context.oneAccountPerPartition && store.removeWhereSole
            ? await store.removeWhereSole(
                key,
                waiting.map((w) => w.homeAccountId),
              )
            : undefined;
        if (sole && 'removedEntries' in sole) {
          waiting.forEach((w, i) => w.settle((sole.removedEntries[i] ?? 0) > 0 ? { outcome: 'removed', removedEntries: sole.removedEntries[i], partitionDeleted: true } : { outcome: 'not_present' }));
          return;
        }
        const update = sole ?? (await store.readForUpdate(key, context));
        try {
          const blob = update.value;
          if (blob === null) return settleAll({ outcome: 'not_present', detail: 'no such partition' });
          const format = this.formats.find((f) => f.recognizes(blob));
          if (!format) return settleAll({ outcome: 'skipped', detail: 'the partition is in no known cache format' });
          const { accounts, next } = await format.removeAccounts(
            blob,
            waiting.map((w) => w.homeAccountId),
            context,
          );
          const removing: [Waiter, AccountPartitionRemoval][] = [];
          waiting.forEach((w, i) => {
            const result = accounts[i]!;
            if (result.outcome !== 'removed' || next === undefined) w.settle({ outcome: result.outcome, ...(result.detail ? { detail: result.detail } : {}) });
            else removing.push([w, result]);
          });
          waiting = removing.map(([w]) => w);
          if (waiting.length === 0) return;
          if (await update.write(next!)) {
            for (const [w, { removedKeys, detail }] of removing) w.settle({ outcome: 'removed', removedEntries: removedKeys.length, partitionDeleted: next === null, ...(detail ? { detail } : {}) });
            return;
          }
        } finally {
          update.release();
        }
        // Jittered, growing pause: retrying at once keeps landing in step with the apps that just wrote.
        if (attempt < this.maxConflicts) await sleep(Math.random() * Math.min(MAX_CONFLICT_PAUSE_MS, 2 ** attempt));
      }
      settleAll({ outcome: 'failed', detail: `the partition kept changing (${this.maxConflicts} attempts)` });
    } catch (err) {
      if (err instanceof ForeignPartitionError) settleAll({ outcome: 'skipped', detail: err.message });
      else settleAll({ outcome: 'failed', detail: `cannot remove: ${safeMessage(err)}` });
    }
  }
}
