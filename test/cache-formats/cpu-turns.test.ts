import t from 'tap';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { cpuTurn } from '../../src/cache-formats/cpu-turns.js';

/** Work that takes `ms` of CPU. */
const busy = (ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};

t.test('each waiter gets a turn of the event loop of its own: timers (and I/O) run between two pieces of work', async (t) => {
  const order: string[] = [];
  const pieces = [1, 2, 3].map((n) =>
    cpuTurn().then(() => {
      order.push(`piece ${n}`);
      setTimeout(() => order.push(`timer after ${n}`), 0);
      busy(3); // the timer is due before the next piece could start
    }),
  );
  await Promise.all(pieces);
  await new Promise((resolve) => setTimeout(resolve, 0));
  t.same(order, ['piece 1', 'timer after 1', 'piece 2', 'timer after 2', 'piece 3', 'timer after 3']);
});

t.test('setImmediate, as used before, runs every piece queued by then in the same turn (what cpuTurn prevents)', async (t) => {
  const order: string[] = [];
  const pieces = [1, 2].map((n) =>
    nextTurn().then(() => {
      order.push(`piece ${n}`);
      setTimeout(() => order.push(`timer after ${n}`), 0);
      busy(3);
    }),
  );
  await Promise.all(pieces);
  await new Promise((resolve) => setTimeout(resolve, 0));
  t.same(order.slice(0, 2), ['piece 1', 'piece 2'], 'both pieces before any timer');
});
