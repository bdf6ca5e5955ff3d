/** What a process does: `all` takes logouts in and carries them out; a `receiver` only takes them in; a `worker` only carries them out. */
export const ROLES = ['all', 'receiver', 'worker'] as const;
export type Role = (typeof ROLES)[number];
