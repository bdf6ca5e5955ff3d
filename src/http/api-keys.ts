import { createHash, timingSafeEqual } from 'node:crypto';
import type { ApiKeyConfig, AppBinding } from '../config/config.js';
import type { ApiScope } from '../config/schema.js';

export interface ApiCaller {
  name: string;
  scopes: ApiScope[];
  /** The clientIds of the apps whose sessions it may touch, or '*' for every app. */
  apps: AppBinding;
}

/** The SHA-256 an API key is configured by (`api.keys[].sha256` is its hex). */
export const keyHash = (key: string): Buffer => createHash('sha256').update(key, 'utf8').digest();

/** Whether the caller is bound to the app (of that clientId). */
export const isBoundTo = (caller: ApiCaller, clientId: string): boolean => caller.apps === '*' || caller.apps.includes(clientId);

/** API keys as SHA-256 hashes; a presented key is hashed and compared in constant time with each. */
export class ApiKeys {
  private readonly keys: { hash: Buffer; caller: ApiCaller }[];

  constructor(keys: ApiKeyConfig[]) {
    this.keys = keys.map((k) => ({ hash: Buffer.from(k.sha256, 'hex'), caller: { name: k.name, scopes: k.scopes, apps: k.apps } }));
  }

  /**
   * For a key that matched nothing: the name of a key whose hash is of this one plus a newline (made with
   * `echo`, not `printf %s`), so the 401 can be logged as what it is.
   */
  hashedWithNewline(presented: string): string | undefined {
    const hash = keyHash(`${presented}\n`);
    return this.keys.find((key) => timingSafeEqual(hash, key.hash))?.caller.name;
  }

  /** The caller a bearer key belongs to, or undefined. */
  identify(presented: string): ApiCaller | undefined {
    const hash = keyHash(presented);
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
