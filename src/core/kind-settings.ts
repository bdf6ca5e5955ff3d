import type { TObject } from 'typebox';

/** What every kind of a list (store kinds, token-cache kinds) brings for the configuration to check its settings. */
export interface KindSettings {
  kind: string;
  /** Its settings besides `kind` (and `key`), strict, so a mistake names the setting. */
  settings: TObject;
  /** What the schema cannot check: the setting at fault ('' for the whole) and why. */
  check?(settings: Record<string, unknown>): { setting: string; reason: string } | undefined;
  /** Fills in the settings' defaults. */
  defaults?(settings: Record<string, unknown>): Record<string, unknown>;
}
