import type { Redis, Cluster } from 'ioredis';
import type { Test } from 'tap';
import { Value } from 'typebox/value';
import { connected, connectRedis, type RedisLocation } from '../../src/redis/connect.js';
import { resolveKeyTemplate } from '../../src/web-sessions/key-template.js';
import type { WebSessionSettings, WebSessionStore } from '../../src/web-sessions/kind.js';
import { WEB_SESSION_KINDS } from '../../src/web-sessions/kinds.js';

/**
 * A web-session kind as the service will open it: its settings checked (schema, check, key template), its
 * defaults filled in; the store and its connections close when the test ends. Rejects with `<setting>: <reason>`.
 */
export async function openWebSession(t: Test, kindName: string, given: Record<string, unknown>): Promise<{ store: WebSessionStore; settings: WebSessionSettings }> {
  const kind = WEB_SESSION_KINDS.find((k) => k.kind === kindName);
  if (!kind) throw new Error(`kind: no kind ${kindName}`);
  const { key, ...rest } = given;
  const schemaError = [...Value.Errors(kind.settings, rest)][0];
  if (schemaError) throw new Error(`${schemaError.instancePath.slice(1).replace(/\//g, '.') || (schemaError.params as { additionalProperties?: string }).additionalProperties || '(root)'}: ${schemaError.message}`);
  const problem = kind.check?.(rest);
  if (problem) throw new Error(`${problem.setting}: ${problem.reason}`);
  const template = resolveKeyTemplate(kind, key);
  if ('reason' in template) throw new Error(`${template.setting}: ${template.reason}`);
  const settings: WebSessionSettings = { ...(kind.defaults ? kind.defaults(rest) : rest), ...template };
  const clients: (Redis | Cluster)[] = [];
  const closers: (() => Promise<unknown>)[] = [];
  const store = kind.open(settings, {
    redis: (location: RedisLocation) => {
      const client = connectRedis(location, () => {});
      clients.push(client);
      return client;
    },
    shared: <T>(_id: string, open: () => T, close: (value: T) => Promise<unknown>): T => {
      const value = open();
      closers.push(() => close(value));
      return value;
    },
    onError: () => {},
  });
  t.teardown(async () => {
    await store.close();
    for (const client of clients) client.disconnect();
    for (const close of closers) await close();
  });
  // As the service does at start: commands fail fast until a connection is ready (a Redis that is down stays down).
  for (const client of clients) await connected(client, 2_000);
  return { store, settings };
}
