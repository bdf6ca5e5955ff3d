import t from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { withoutCoverage } from './helpers/process.js';

const root = new URL('..', import.meta.url).pathname;

// `npm run bench` is `npm run build` then this; npm test has built already.
t.test('the bench (bench/run.ts --dry-run --json) runs end to end and reports its fields', async (t) => {
  const { stdout } = await promisify(execFile)(...withoutCoverage('node', ['--import', 'tsx', 'bench/run.ts', '--dry-run', '--json']), { cwd: root, timeout: 240_000 });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the report's JSON, read by path: a wrong path fails the assertion
  const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, any>;
  t.ok(result.verifyCeiling.rps > 0, 'verifyCeiling');
  t.ok(result.joseVerifiesPerSecond64InFlight > 0, 'jose verifies per second');
  t.ok(result.backchannelNoSession.rps > 0, 'backchannelNoSession');
  t.equal(result.backchannelNoSession.non2xx, 0, 'every no-session token accepted: no replays, no errors');
  t.ok(result.ratioNoSessionToCeiling > 0);
  t.equal(result.noSessionRounds.length, 1, 'a dry run is one round of the ceiling, the service and the peer');
  t.ok(
    result.noSessionRounds.every((r: { ceilingRps: number; noSessionRps: number; peerRps: number }) => r.ceilingRps > 0 && r.noSessionRps > 0 && r.peerRps > 0),
    'each round loads all three',
  );
  t.ok(result.peer.rps > 0, 'the peer answered');
  t.equal(result.peer.non2xx, 0, 'the peer accepted every token');
  t.ok(result.peer.ratio > 0);
  t.ok(result.backchannelSweep.rps > 0, 'backchannelSweep: logouts carried out per second');
  t.equal(result.backchannelSweep.completed, result.backchannelSweep.sharedPartitionAccounts, 'the journal shows every sweep logout completed');
  t.ok(result.backchannelSweep.answeredRps > 0, 'and the rate they were answered at');
  t.equal(result.backchannelSweep.non2xx, 0, 'every sweep logout answered 200');
  t.type(result.backchannelSweep.pendingFirstAttempts, 'number', 'how many sweep logouts the worker finished');
  t.equal(result.backchannelSweep.leftBehind, 0, 'no session or cache entry of a logged-out user is left');
  t.ok(result.backchannelSweep.redisCallsPerLogout.smembers >= 1, 'Redis commands per sweep logout, by command (a session lookup each)');
  t.ok(result.backchannelSweep.service.cpuPerLogoutMs > 0, 'service CPU per sweep logout');
  t.ok(result.sweepHalfRate.p99Ms > 0);
  t.ok(result.scale.small.p99Ms > 0 && result.scale.large.p99Ms > 0, 'scale answer p99 with few and many sessions');
  t.equal(result.scale.small.completed, result.tokensPerRun.scaleTokens, 'every scale logout completed (few sessions)');
  t.equal(result.scale.large.completed, result.tokensPerRun.scaleTokens, 'every scale logout completed (many sessions)');
  t.type(result.scale.large.completionP99Ms, 'number', 'scale completion p99');
  t.ok(result.scale.ratio > 0);
  t.ok(result.rssMb > 0);
  t.ok(result.split.backchannelSweep.rps > 0, 'split: a receiver and a worker carried the sweep out');
  t.equal(result.split.backchannelSweep.completed, result.tokensPerRun.sweep, 'split: every sweep logout completed');
  t.equal(result.split.backchannelSweep.leftBehind, 0, 'split: nothing of a logged-out user left');
  t.equal(result.split.sweepHalfRate.non2xx, 0, 'split at half rate: every logout answered 200');
  t.ok(result.split.sweepHalfRate.p99Ms > 0, 'split: the receiver answer p99 at half rate');
  t.equal(result.split.backchannelSweepNoShared.completed, result.tokensPerRun.sweep, 'split without the shared partition: every logout completed');
  t.ok(result.split.receiverRssMb > 0 && result.split.workerRssMb > 0, 'split: each process peak RSS');
  t.ok(result.split.backchannelSweep.service.receiverCpuPerLogoutMs > 0 && result.split.backchannelSweep.service.workerCpuPerLogoutMs > 0, 'split: CPU per logout of each process');
  t.ok(Object.keys(result.split.redisCallsPerLogout).length > 0, 'split: Redis commands per logout');
  const sum = (perCommand: Record<string, number>) => Object.values(perCommand).reduce((a, b) => a + b, 0);
  t.ok(result.split.redisCommandsSentPerLogout.evalsha >= 2, 'split: commands as sent, a script once (the rate limiter and the admission at least)');
  t.ok(sum(result.split.redisCommandsSentPerLogout) < sum(result.split.redisCallsPerLogout), 'fewer sent than Redis ran: what scripts run is not sent');
  // The front channel and the paced runs: every figure a positive number (a missing field or NaN fails), nothing refused or left behind.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a field of the report by its path, as above
  const at = (path: string): any => path.split('.').reduce<any>((value, key) => value?.[key], result);
  const positive = [
    'frontchannel.ceiling.rps',
    'frontchannel.noSessionMemory.rps',
    'frontchannel.noSessionMemory.p99Ms',
    'frontchannel.noSessionMemory.ratioToCeiling',
    'frontchannel.noSessionRedis.rps',
    'frontchannel.noSessionRedis.p99Ms',
    'frontchannel.noSessionRedis.ratioToCeiling',
    'frontchannel.sweep.rps',
    'frontchannel.sweep.answeredRps',
    'frontchannel.sweep.completionP99Ms',
    'frontchannel.sweep.ratioToCeiling',
    'frontchannel.split.sweep.rps',
    'frontchannel.split.sweep.answeredRps',
    'frontchannel.split.sweep.completionP99Ms',
    'frontchannel.split.sweep.ratioToCeiling',
    'frontchannel.split.sweep.service.receiverCpuPerLogoutMs',
    ...['split.sweepHalfRate', 'frontchannel.split.sweepHalfRate'].flatMap((run) => [`${run}.p99Ratio`, ...['rate', 'p50Ms', 'p99Ms', 'ceilingP50Ms', 'ceilingP99Ms', 'completionP99Ms'].map((field) => `${run}.paced.${field}`)]),
  ];
  for (const path of positive) t.ok(at(path) > 0, `${path} is a positive number`);
  t.equal(result.frontchannel.ceiling.sameAnswer, true, 'the front-channel ceiling answers the page and headers the service answers');
  t.equal(result.frontchannel.noSessionRounds.length, 1, 'a dry run is one round of the front-channel ceiling and the service on memory and on Redis');
  for (const field of ['ceiling', 'noSessionMemory', 'noSessionRedis']) t.equal(result.frontchannel[field].non2xx + result.frontchannel[field].errors, 0, `frontchannel.${field}: every request answered 200`);
  for (const run of ['frontchannel.sweep', 'frontchannel.split.sweep']) {
    t.equal(at(`${run}.completed`), result.tokensPerRun.sweep, `${run}: the journal shows every front-channel logout completed`);
    t.equal(at(`${run}.non2xx`) + at(`${run}.errors`) + at(`${run}.leftBehind`), 0, `${run}: every request answered 200, nothing of a logged-out user left`);
  }
  for (const run of ['split.sweepHalfRate.paced', 'frontchannel.split.sweepHalfRate.paced']) {
    t.equal(at(`${run}.requests`), result.tokensPerRun.paced, `${run}: every receiver request answered`);
    t.equal(at(`${run}.ceilingRequests`), result.tokensPerRun.paced, `${run}: every ceiling request answered`);
    t.equal(at(`${run}.non2xx`) + at(`${run}.errors`) + at(`${run}.ceilingNon2xx`) + at(`${run}.ceilingErrors`), 0, `${run}: every request answered 200, on both sides`);
    t.equal(at(`${run}.completed`), result.tokensPerRun.paced, `${run}: the worker completed every logout of the paced run`);
    t.equal(at(`${run}.leftBehind`), 0, `${run}: nothing of a logged-out user left`);
    t.equal(at(`${run}.roundsP99Ms`).length, result.tokensPerRun.pacedRounds, `${run}: one p99 pair per round`);
  }
  t.match(stdout, /verify-only ceiling/);
  t.match(stdout, /front-channel ceiling/);
});
