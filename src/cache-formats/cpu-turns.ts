/**
 * Turns of the event loop for CPU-bound background work, handed out one per turn.
 *
 * Removing accounts from token caches is CPU work in small pieces (one partition scanned, one
 * mebibyte of a large partition scanned). Hundreds of logouts carried out at once each awaited
 * `setImmediate` between their pieces, and every piece queued by then ran in the same turn: tens of
 * milliseconds in which no request was answered. Here each waiter gets a turn of its own, so between
 * two pieces the loop takes in I/O (requests, replies) again.
 */
const waiting: (() => void)[] = [];
let pumping = false;

function pump(): void {
  waiting.shift()?.();
  if (waiting.length > 0) setImmediate(pump);
  else pumping = false;
}

/** Resolves in a turn of the event loop of its own, after the waiters before it. */
export function cpuTurn(): Promise<void> {
  return new Promise((resolve) => {
    waiting.push(resolve);
    if (pumping) return;
    pumping = true;
    setImmediate(pump);
  });
}
