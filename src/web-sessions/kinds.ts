import { eocMarkerWebSession } from './eoc-marker.js';
import type { WebSessionKind } from './kind.js';
import { postgresWebSession } from './postgres.js';
import { redisHashWebSession } from './redis-hash.js';
import { redisWebSession } from './redis.js';
import { springSessionRedisWebSession } from './spring-session-redis.js';

/** Every kind of web-session store an app can name in `webSession.kind`; a new kind is its file and a line here. */
export const WEB_SESSION_KINDS: readonly WebSessionKind[] = [redisWebSession, redisHashWebSession, postgresWebSession, springSessionRedisWebSession, eocMarkerWebSession];
