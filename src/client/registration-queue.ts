import { SessionRegistrationError, type SessionRegistration } from './register-session.js';

export interface RegistrationQueueOptions {
  /** Sends one registration (e.g. `(r) => registerSession(url, key, r)`); resolves the session id. */
  send: (registration: SessionRegistration) => Promise<string>;
  /** Registrations waiting at most; beyond, the oldest is given up (1,000). */
  maxQueued?: number;
  /** First retry after this, doubling up to `maxDelayMs` (1 s, 60 s). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** A retry found the user signed out meanwhile (409): end the app's own session of them. */
  onAlreadyLoggedOut?: (registration: SessionRegistration) => void;
  /** A registration will not be retried: refused (4xx) or pushed out of a full queue. */
  onGiveUp?: (registration: SessionRegistration, err: unknown) => void;
}

/**
 * Fails open: a sign-in whose registration meets the service down (unreachable, timed out, 5xx, 429)
 * goes on, and the registration is retried in the background until it lands. Until then a logout of
 * that session cannot find it by `sid` (a back-channel logout by `sub` or `homeAccountId` still removes
 * the account). In memory: a restart of the app loses what is queued.
 */
export class SessionRegistrationQueue {
  private readonly waiting: { registration: SessionRegistration; attempts: number }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private retrying = false;
  private readonly options: Required<Omit<RegistrationQueueOptions, 'onAlreadyLoggedOut' | 'onGiveUp'>> & RegistrationQueueOptions;

  constructor(options: RegistrationQueueOptions) {
    this.options = { maxQueued: 1_000, baseDelayMs: 1_000, maxDelayMs: 60_000, ...options };
  }

  /** How many registrations wait for a retry. */
  get size(): number {
    return this.waiting.length;
  }

  /**
   * Registers now and resolves the session id; when the service cannot be reached, queues the
   * registration and resolves `undefined`. A refusal is thrown as is (409: the user already signed out).
   */
  async register(registration: SessionRegistration): Promise<string | undefined> {
    try {
      return await this.options.send(registration);
    } catch (err) {
      if (!isRetryable(err)) throw err;
      this.enqueue({ registration, attempts: 1 });
      return undefined;
    }
  }

  /** Stops retrying; what is queued is dropped. */
  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.waiting.length = 0;
  }

  private enqueue(entry: { registration: SessionRegistration; attempts: number }): void {
    if (this.waiting.length >= this.options.maxQueued) this.options.onGiveUp?.(this.waiting.shift()!.registration, new Error('the registration queue is full'));
    this.waiting.push(entry);
    if (!this.retrying) this.schedule(entry.attempts);
  }

  private schedule(attempts: number): void {
    if (this.timer) return;
    const delay = Math.min(this.options.maxDelayMs, this.options.baseDelayMs * 2 ** (attempts - 1));
    this.timer = setTimeout(() => void this.retry(), delay);
    this.timer.unref();
  }

  /** Oldest first, one at a time; a registration leaves the queue only once it landed or was refused. */
  private async retry(): Promise<void> {
    this.timer = undefined;
    this.retrying = true;
    try {
      while (this.waiting.length > 0) {
        const entry = this.waiting[0]!;
        try {
          await this.options.send(entry.registration);
        } catch (err) {
          if (isRetryable(err)) {
            entry.attempts++;
            this.schedule(entry.attempts); // still down: wait longer
            return;
          }
          if (err instanceof SessionRegistrationError && err.alreadyLoggedOut) this.options.onAlreadyLoggedOut?.(entry.registration);
          else this.options.onGiveUp?.(entry.registration, err);
        }
        const at = this.waiting.indexOf(entry); // a full queue may have pushed it out meanwhile
        if (at >= 0) this.waiting.splice(at, 1);
      }
    } finally {
      this.retrying = false;
    }
  }
}

function isRetryable(err: unknown): boolean {
  return err instanceof SessionRegistrationError && err.retryable;
}
