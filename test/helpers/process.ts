import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

export interface RunningService {
  child: ChildProcess;
  address: string;
  /** Every stdout and stderr line so far. */
  lines: string[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts the service as a process and waits for the line that says where it listens. */
export async function startProcess(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<RunningService> {
  const child = spawn(command, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const exited = once(child, 'exit');
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL'); // not left running behind a failed test
      reject(new Error(`no listening line within ${options.timeoutMs ?? 20000} ms:\n${lines.join('\n')}`));
    }, options.timeoutMs ?? 20_000);
    for (const stream of [child.stdout!, child.stderr!])
      createInterface({ input: stream }).on('line', (line) => {
        lines.push(line);
        const match = /listening on (http:\/\/[^"\s]+)/.exec(line);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before listening:\n${lines.join('\n')}`));
    });
  });
  return {
    child,
    address,
    lines,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const [code] = await exited;
      return code as number | null;
    },
  };
}

/** Starts a process and resolves once its output says `ready`; rejects if it exits first or takes over 10 s. */
export async function startUntil(command: string, args: string[], ready: RegExp): Promise<ChildProcess> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`${command} did not start: ${seen.slice(-400)}`)), 10_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      seen += chunk;
      if (ready.test(seen)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited with ${code}: ${seen.slice(-400)}`));
    });
  });
  child.stdout!.resume();
  child.stderr!.resume();
  return child;
}

/** kill -9, and resolves once it exited (at once when it had). */
export async function killNow(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

/** Asks `check` every 100 ms until it holds (a check that throws counts as not yet), or fails after `timeoutMs`. */
export async function pollUntil(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what} did not get there in time`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * A command and its arguments, run without tap's coverage and process tracking: tap's hooks put
 * NODE_OPTIONS and NODE_V8_COVERAGE back into every process a test spawns, and each node process then
 * loads them; `env -u` takes them out for a harness whose processes are not the service under test.
 */
export function withoutCoverage(command: string, args: string[]): [string, string[]] {
  return ['env', ['-u', 'NODE_OPTIONS', '-u', 'NODE_V8_COVERAGE', command, ...args]];
}
