import type { CacheFormat } from '../core/token-cache.js';
import { dataProtectionFormat } from './data-protection.js';
import { msalJsonFormat } from './msal-json.js';

/** Every cache format the sweeper reads, asked in this order; MSAL's JSON last, as it judges whatever is left. */
export const CACHE_FORMATS: readonly CacheFormat[] = [dataProtectionFormat, msalJsonFormat];
