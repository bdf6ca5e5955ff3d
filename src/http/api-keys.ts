import { createHash, timingSafeEqual } from 'node:crypto';
import type { ApiKeyConfig } from '../config/load.js';
import type { ApiScope } from '../config/schema.js';

export interface ApiCaller {
  name: string;
  scopes: ApiScope[];
}

/** API keys as SHA-256 hashes; a presented key is hashed and compared in constant time with each. */
export class ApiKeys {
  private readonly keys: { hash: Buffer; caller: ApiCaller }[];

  constructor(keys: ApiKeyConfig[]) {
    this.keys = keys.map((k) => ({ hash: Buffer.from(k.sha256, 'hex'), caller: { name: k.name, scopes: k.scopes } }));
  }

  /** The caller a bearer key belongs to, or undefined. */
  identify(presented: string): ApiCaller | undefined {
    const hash = createHash('sha256').update(presented, 'utf8').digest();
    let found: ApiCaller | undefined;
    // Compare with every key, so the time taken says nothing about which one matched.
    for (const key of this.keys) if (timingSafeEqual(hash, key.hash)) found = key.caller;
    return found;
  }
}

/** The key from `Authorization: Bearer <key>`, or undefined. */
export function bearerKey(header: string | undefined): string | undefined {
  const match = /^Bearer +([\x21-\x7e]+) *$/i.exec(header ?? '');
  return match?.[1];
}
