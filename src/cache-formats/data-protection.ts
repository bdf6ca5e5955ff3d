import type { CacheFormat } from '../core/token-cache.js';

/** The magic header of an ASP.NET Core Data Protection payload (what Microsoft.Identity.Web writes with `Encrypt = true`). */
const MAGIC = [0x09, 0xf0, 0xc9, 0xf0] as const;

/**
 * A partition the app encrypted with ASP.NET Data Protection: unreadable here. Where the key template
 * makes it one account's, it is deleted whole, as Microsoft.Identity.Web's own sign-out does; anywhere
 * else it may hold other accounts, and is left alone.
 */
export const dataProtectionFormat: CacheFormat = {
  name: 'aspnet-data-protection',
  recognizes: (blob) => typeof blob !== 'string' && blob.length >= MAGIC.length && MAGIC.every((byte, i) => blob[i] === byte),
  async removeAccounts(_blob, homeAccountIds, { oneAccountPerPartition }) {
    if (oneAccountPerPartition) return { accounts: homeAccountIds.map(() => ({ outcome: 'removed', removedKeys: [], detail: 'encrypted partition deleted' })), next: null };
    const detail = "encrypted partition (ASP.NET Data Protection) that may hold other accounts: the key template does not make it one account's";
    return { accounts: homeAccountIds.map(() => ({ outcome: 'skipped', removedKeys: [], detail })) };
  },
};
