import type { Role } from '../../core/roles.js';
import { STORE_KINDS } from '../../stores/kinds.js';
import type { Config } from '../config.js';
import { ConfigError } from '../errors.js';
import type { ConfigFile } from '../schema.js';
import { resolveKind } from './kind.js';

/** `store`: memory when not given; a receiver or worker needs one that processes share. */
export function resolveStore(file: ConfigFile['store'], role: Role): Config['store'] {
  const { kind = 'memory', ...settings } = file ?? {};
  if (role !== 'all' && kind === 'memory') throw new ConfigError('role', `a ${role} needs a store the receivers and workers share (store.kind: redis); on the memory store one process of role all does both`);
  return { kind, ...resolveKind(STORE_KINDS, kind, settings, 'store', 'store') };
}
