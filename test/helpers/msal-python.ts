import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';

/**
 * The real MSAL Python (Debian's python3-msal 1.21) driven by test/helpers/msal_python.py, one
 * process per request. Debian's interpreter on purpose: the `python3` on PATH may be another one
 * without these modules.
 */
export const PYTHON = '/usr/bin/python3';
export const MSAL_PYTHON_SCRIPT = fileURLToPath(new URL('./msal_python.py', import.meta.url));
/** -I: ignore PYTHON* variables and the user's site-packages; -B: write no __pycache__ next to the script. */
const PYTHON_ARGS = ['-I', '-B'];
const INSTALL_HINT = 'apt-get install -y python3-msal python3-redis python3-psycopg2';

export interface PythonUser {
  oid: string;
  homeTenant: string;
  /** The tenant signed into; a guest's differs from homeTenant. Default: homeTenant. */
  tenant?: string;
  name: string;
  sid?: string;
  /** Default ["User.Read"]. */
  scopes?: string[];
  /** preferred_username; default derived from name, `@example.test`. */
  username?: string;
}

export interface PythonAccount {
  homeAccountId: string;
  environment: string;
  realm: string;
  username: string;
}

export type PythonStore = { kind: 'redis'; url: string; key: string } | { kind: 'redis-hash'; url: string; key: string } | { kind: 'postgres'; url: string; provider: 'microsoft' | 'community'; schema: string; table: string; key: string };

export type PythonRequest =
  | { command: 'signin'; clientId: string; authority: string; users: PythonUser[] }
  | { command: 'accounts'; clientId: string; authority: string; caches: string[] }
  | { command: 'silent'; clientId: string; authority: string; cache: string; homeAccountId: string; scopes: string[] }
  | { command: 'store-ping' | 'store-create-table' | 'store-drop-table' | 'store-read'; store: PythonStore }
  | {
      command: 'store-write';
      store: PythonStore;
      cache: string;
      /** redis-hash / postgres: absolute expiry this far ahead (default 3600; null = none). */
      absoluteSeconds?: number | null;
      /** redis-hash / postgres: a sliding window (default none). */
      slidingSeconds?: number;
      /** redis string: SET … EX (default no expiry). */
      ttlSeconds?: number;
    };

export interface SigninAnswer {
  cache: string;
  accounts: PythonAccount[];
  /** Token-endpoint calls the fake Entra answered: one per user. */
  tokenRequests: number;
}
export interface AccountsAnswer {
  /** Per blob, in order: get_accounts()' home_account_ids, or what MSAL Python raised. */
  accounts: (string[] | { error: string })[];
}
export interface SilentAnswer {
  found: boolean;
  fromCache: boolean;
  tokenRequests: number;
}
export interface CreateTableAnswer {
  ok: true;
  schema: string;
  table: string;
  /** information_schema's view of the table as created: data_type (with its length) and nullability. */
  columns: Record<string, { type: string; nullable: boolean }>;
}
export interface StoreReadAnswer {
  cache: string | null;
  /** Redis: seconds to live (-1: none). */
  ttl?: number;
  /** redis-hash: every field but data (absexp, sldexp …) as stored. */
  fields?: Record<string, string>;
  /** postgres: the expiry columns, by their column names; timestamps as ISO strings in UTC. */
  row?: Record<string, string | number | null>;
}

/** Runs one request through msal_python.py; rejects with its stderr on a non-zero exit, or after timeoutMs (the child is killed). */
export function msalPython<T>(request: object, options: { timeoutMs?: number } = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const command = (request as { command?: unknown }).command;
  return new Promise<T>((resolve, reject) => {
    const child = spawn(PYTHON, [...PYTHON_ARGS, MSAL_PYTHON_SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      settle(() => reject(new Error(`msal_python.py ${String(command)}: no answer within ${timeoutMs} ms, killed\n${Buffer.concat(stderr).toString()}`)));
    }, timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (err) => settle(() => reject(new Error(`msal_python.py: cannot run ${PYTHON}: ${err.message}`))));
    child.on('close', (code, signal) => {
      const err = Buffer.concat(stderr).toString().trim();
      if (code !== 0) {
        settle(() => reject(new Error(err || `msal_python.py ${String(command)} exited with ${code ?? signal}`)));
        return;
      }
      const out = Buffer.concat(stdout).toString();
      try {
        const answer = JSON.parse(out) as T;
        settle(() => resolve(answer));
      } catch {
        settle(() => reject(new Error(`msal_python.py ${String(command)} wrote no JSON: ${out.slice(0, 500)}\n${err}`)));
      }
    });
    // A child that dies before reading stdin would make this write fail (EPIPE): the exit code tells why.
    child.stdin.on('error', () => {});
    child.stdin.end(JSON.stringify(request));
  });
}

let availability: { ok: true } | { ok: false; reason: string } | undefined;

/** Whether Debian's python3 with msal, redis and psycopg2 is here (checked once, synchronously). */
export function msalPythonAvailable(): { ok: true } | { ok: false; reason: string } {
  if (availability) return availability;
  if (!existsSync(PYTHON)) return (availability = { ok: false, reason: `no ${PYTHON}` });
  const probe = spawnSync(PYTHON, [...PYTHON_ARGS, '-c', 'import msal, redis, psycopg2'], { encoding: 'utf8', timeout: 15_000 });
  if (probe.error) return (availability = { ok: false, reason: `${PYTHON}: ${probe.error.message}` });
  if (probe.status !== 0) {
    const lines = probe.stderr.trim().split('\n');
    return (availability = { ok: false, reason: `${PYTHON} cannot import msal, redis, psycopg2: ${lines[lines.length - 1] ?? `exit ${probe.status}`}` });
  }
  return (availability = { ok: true });
}

/**
 * For a test file of the MSAL Python suite: true when MSAL Python is here. Without it the file is
 * skipped with one loud line on stderr — except under CI=true, where that fails.
 */
export function requireMsalPython(t: Test): boolean {
  const available = msalPythonAvailable();
  if (available.ok) return true;
  if (process.env.CI === 'true') {
    t.fail(`MSAL Python is required under CI (${available.reason}): ${INSTALL_HINT}`);
    return false;
  }
  process.stderr.write(`##### MSAL Python not installed: ${INSTALL_HINT}; skipping the MSAL Python suite (${available.reason}) #####\n`);
  // A skipped subtest, not plan(0): the caller may already have tests of its own.
  void t.test('the MSAL Python suite', { skip: `MSAL Python not installed: ${available.reason}` }, async () => {});
  return false;
}
