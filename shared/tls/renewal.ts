// When a certificate is renewed: at a random point between 50% and 80% of its
// life, as Swarm's nodes do, so that a cluster's certificates, issued
// together, do not all come due at once. A renewal that fails is tried again
// every few seconds until one succeeds; past the certificate's expiry, only a
// new join helps, and the holder says so.
import type { Logger } from '../log.js';
import { validity } from './pki.js';

/** The earliest and latest share of a certificate's life at which it is renewed. */
export const RENEW_FROM = 0.5;
export const RENEW_TO = 0.8;
/** How soon a failed renewal is tried again. */
const RETRY_MS = 2000;

/** Milliseconds from `now` until the certificate is due (0: due already); `draw` is a number in [0, 1). */
export function renewalDelay(certPem: string | Buffer, now: number, draw: number): number {
  const { notBefore, notAfter } = validity(certPem);
  const life = notAfter.getTime() - notBefore.getTime();
  const at = notBefore.getTime() + life * (RENEW_FROM + (RENEW_TO - RENEW_FROM) * draw);
  return Math.max(0, at - now);
}

/** True once the certificate is past its end. */
export function expired(certPem: string | Buffer, now: number): boolean {
  return validity(certPem).notAfter.getTime() <= now;
}

/** Renews a certificate when it comes due (renewalDelay), and again after each renewal. */
export class RenewalTimer {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  /** `renew` gets a new certificate and returns it (saved); `current` is the one held now. */
  constructor(
    private readonly current: () => string | Buffer,
    private readonly renew: () => Promise<string>,
    private readonly log: Logger,
  ) {}

  /** (Re)schedules from the certificate held now. */
  start(): void {
    this.stopped = false;
    this.arm(renewalDelay(this.current(), Date.now(), Math.random()));
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private arm(ms: number): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    // setTimeout holds at most ~24.8 days; a longer wait is taken in steps.
    const step = Math.min(ms, 2 ** 31 - 1);
    this.timer = setTimeout(() => (step < ms ? this.arm(ms - step) : void this.run()), step);
    this.timer.unref();
  }

  private async run(): Promise<void> {
    const before = validity(this.current()).notAfter;
    try {
      const cert = await this.renew();
      this.log.info({ notAfter: validity(cert).notAfter.toISOString(), was: before.toISOString() }, 'certificate renewed');
      this.arm(renewalDelay(cert, Date.now(), Math.random()));
    } catch (err) {
      if (expired(this.current(), Date.now())) {
        this.log.error({ expiredAt: before.toISOString() }, `this node's certificate expired at ${before.toISOString()} before it could be renewed: the managers refuse it; join again with a token (\`orch join --token TOKEN MANAGER\`)`);
        return;
      }
      this.log.warn({ err: String(err), notAfter: before.toISOString() }, 'certificate renewal failed; trying again');
      this.arm(RETRY_MS);
    }
  }
}
