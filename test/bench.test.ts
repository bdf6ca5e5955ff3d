import t from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const root = new URL('..', import.meta.url).pathname;

t.test('npm run bench -- --dry-run --json runs end to end and reports its fields', async (t) => {
  const { stdout } = await promisify(execFile)('npm', ['run', '--silent', 'bench', '--', '--dry-run', '--json'], { cwd: root, timeout: 120_000 });
  const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, any>;
  t.ok(result.verifyCeiling.rps > 0, 'verifyCeiling');
  t.ok(result.backchannelNoSession.rps > 0, 'backchannelNoSession');
  t.equal(result.backchannelNoSession.non2xx, 0, 'every token accepted: no replays, no errors');
  t.ok(result.joseVerifiesPerSecond64InFlight > 0);
  t.ok(result.ratioNoSessionToCeiling > 0);
  t.ok(result.rssMb > 0);
  t.match(stdout, /verify-only ceiling/);
});
