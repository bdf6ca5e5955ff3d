import { isIP } from 'node:net';
import type { ServerConfig } from '../config.js';
import { ConfigError } from '../errors.js';
import type { ConfigFile } from '../schema.js';

/** `server`: where to listen (loopback only for the development configuration), and which proxies to believe. */
export function resolveServer(file: ConfigFile['server'], development: boolean): ServerConfig {
  const port = file?.port ?? 8080;
  if (file?.managementPort !== undefined && file.managementPort !== 0 && file.managementPort === port) throw new ConfigError('server.managementPort', `is server.port (${port}); give the probes a port of their own, or leave it out to serve them on the main port`);
  return {
    host: file?.host ?? (development ? '127.0.0.1' : '0.0.0.0'),
    port,
    ...(file?.managementPort !== undefined ? { managementPort: file.managementPort } : {}),
    shutdownDelaySeconds: file?.shutdownDelaySeconds ?? (development ? 0 : 5),
    trustProxy: checkTrustProxy(file?.trustProxy),
  };
}

/** The names proxy-addr (Fastify's trustProxy) knows for address ranges. */
const PROXY_RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

/** A list of the proxies' addresses or CIDRs; `true` and hop counts are refused, saying why. */
function checkTrustProxy(value: unknown): string[] {
  const key = 'server.trustProxy';
  if (value === undefined || value === false) return [];
  if (value === true) throw new ConfigError(key, "true is refused: every address in X-Forwarded-For would then be the client's to write; list the proxies' addresses or CIDRs");
  if (typeof value === 'number') throw new ConfigError(key, "a hop count is refused: it cannot check that the peer is your proxy (and Fastify 5 ignores one); list the proxies' addresses or CIDRs");
  if (!Array.isArray(value)) throw new ConfigError(key, "must be a list of the proxies' addresses or CIDRs");
  return value.map((entry, i) => {
    const [address, bits, extra] = typeof entry === 'string' ? entry.split('/') : [];
    const family = address === undefined ? 0 : isIP(address);
    const maxBits = family === 6 ? 128 : 32;
    const validBits = bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= maxBits);
    if (typeof entry === 'string' && PROXY_RANGE_NAMES.includes(entry)) return entry;
    if (typeof entry !== 'string' || family === 0 || !validBits || extra !== undefined) throw new ConfigError(`${key}[${i}]`, `is not an IP address, a CIDR or one of ${PROXY_RANGE_NAMES.join(', ')}`);
    return entry;
  });
}
