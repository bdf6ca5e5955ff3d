import { spawnSync } from 'node:child_process';
import t, { type Test } from 'tap';

/** A test that needs promtool (Debian's prometheus package): skipped loudly without it, and failed under CI, which installs it. */
export function promtoolTest(name: string, body: (t: Test) => Promise<void>): void {
  if (spawnSync('promtool', ['--version']).status === 0) void t.test(name, body);
  else if (process.env.CI === 'true') t.fail(`${name}: promtool is required under CI (Debian's prometheus package; .ci/run installs it)`);
  else void t.test(name, { skip: `##### promtool not installed (Debian's prometheus package) #####` }, async () => {});
}
