import type { Redis, Cluster } from 'ioredis';
import type { LoggedOutMarkers } from '../../core/service-stores.js';
import { markerKey, type Keyspace } from './keys.js';

export class RedisLoggedOutMarkers implements LoggedOutMarkers {
  constructor(
    private readonly redis: Redis | Cluster,
    private readonly ks: Keyspace,
  ) {}
  private key(issuer: string, sid: string): string {
    return markerKey(this.ks.of(this.ks.bucketOf(issuer)), issuer, sid);
  }
  async mark(issuer: string, sid: string, expiresAt: number): Promise<void> {
    await this.redis.set(this.key(issuer, sid), '1', 'PXAT', expiresAt);
  }
  async isMarked(issuer: string, sid: string): Promise<boolean> {
    return (await this.redis.exists(this.key(issuer, sid))) === 1;
  }
}
