import type { AppConfig } from '../config/load.js';
import { ForeignPartitionError, type TokenCacheStore } from '../token-caches/types.js';
import type { AccountRemoval } from './model.js';
import { removeAccountFromPartition } from './msal-cache-partition.js';

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

const safeMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err)).slice(0, 200);

/** Removes accounts from the MSAL token caches of every registered app. */
export class TokenCacheSweeper {
  private readonly maxConflicts: number;

  constructor(
    readonly caches: AppTokenCache[],
    options: SweeperOptions = {},
  ) {
    this.maxConflicts = options.maxConflicts ?? 10;
  }

  async sweep(accounts: AccountToSweep[]): Promise<AccountRemoval[]> {
    const removals: AccountRemoval[] = [];
    for (const { app, store } of this.caches) {
      for (const account of accounts) {
        const base = { clientId: app.clientId, app: app.name, homeAccountId: account.homeAccountId };
        const keys = this.keysFor(app, account);
        if (keys.length === 0) {
          removals.push({ ...base, outcome: 'skipped', detail: 'the cache key needs a {cacheKey} this app did not register' });
          continue;
        }
        for (const key of keys) removals.push({ ...base, partitionKey: key, ...(await this.removeFrom(store, key, account.homeAccountId)) });
      }
    }
    return removals;
  }

  private keysFor(app: AppConfig, account: AccountToSweep): string[] {
    const template = app.tokenCache.key;
    if (!template.includes('{cacheKey}')) return [partitionKey(template, app.clientId, account.homeAccountId) as string];
    const keys = [...(account.cacheKeys.get(app.clientId) ?? [])].map((k) => partitionKey(template, app.clientId, account.homeAccountId, k));
    return [...new Set(keys.filter((k): k is string => k !== undefined))];
  }

  /** Read, remove, compare-and-set; an app's concurrent write makes us start over on its blob. */
  private async removeFrom(
    store: TokenCacheStore,
    key: string,
    homeAccountId: string,
  ): Promise<Pick<AccountRemoval, 'outcome' | 'detail' | 'removedEntries' | 'partitionDeleted'>> {
    try {
      for (let attempt = 1; attempt <= this.maxConflicts; attempt++) {
        const blob = await store.get(key);
        if (blob === null) return { outcome: 'not_present', detail: 'no such partition' };
        const result = await removeAccountFromPartition(blob, homeAccountId);
        if (result.outcome !== 'removed' || result.next === undefined)
          return { outcome: result.outcome, ...(result.detail ? { detail: result.detail } : {}) };
        if (await store.compareAndSet(key, blob, result.next))
          return { outcome: 'removed', removedEntries: result.removedKeys.length, partitionDeleted: result.next === null };
      }
      return { outcome: 'failed', detail: `the partition kept changing (${this.maxConflicts} attempts)` };
    } catch (err) {
      if (err instanceof ForeignPartitionError) return { outcome: 'skipped', detail: err.message };
      return { outcome: 'failed', detail: `cannot remove: ${safeMessage(err)}` };
    }
  }
}
