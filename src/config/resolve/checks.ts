import { isLoopbackHost } from '../../core/registrations.js';
import { ConfigError } from '../errors.js';

/** `https`, or plain `http` to this machine only. */
export function checkFetchUrl(key: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(key, 'is not a URL');
  }
  if (url.protocol === 'https:') return url.href;
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return url.href;
  throw new ConfigError(key, 'must be https (plain http only for loopback hosts)');
}

export function checkOrigin(key: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(key, 'is not an origin like https://login.microsoftonline.com');
  }
  if (url.origin === 'null' || url.href !== `${url.origin}/` || (url.protocol !== 'https:' && !isLoopbackHost(url.hostname))) throw new ConfigError(key, 'must be an https origin (scheme://host[:port], no path)');
  return url.origin;
}

export function unique<T>(items: T[], keyOf: (item: T) => string, key: (i: number) => string, what: string): void {
  const seen = new Set<string>();
  items.forEach((item, i) => {
    const k = keyOf(item);
    if (seen.has(k)) throw new ConfigError(key(i), `duplicate ${what} "${k}"`);
    seen.add(k);
  });
}
