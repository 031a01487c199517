// A reconcile loop: runs its body when triggered (coalescing triggers that
// arrive while it runs), every `periodMs` anyway, and at the time the body
// asks to be woken. A failing body is logged and retried with backoff.
import type { Logger } from '../shared/log.js';
import { managerMetrics } from './metrics.js';

/** What a loop body returns: when (epoch ms) it wants to run again, if sooner than its period. */
export type LoopBody = () => Promise<number | undefined | void>;

export class Loop {
  private running = false;
  private again = false;
  private stopped = true;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private idle: Promise<void> = Promise.resolve();

  constructor(
    readonly name: string,
    private readonly log: Logger,
    private readonly body: LoopBody,
    private readonly periodMs = 1000,
  ) {}

  start(): void {
    this.stopped = false;
    this.trigger();
  }

  /** Stops; resolves when a run in progress has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.idle;
  }

  /** Asks for a run as soon as possible. */
  trigger(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.running = true;
    this.idle = this.run();
  }

  private async run(): Promise<void> {
    let wakeAt: number | undefined;
    do {
      this.again = false;
      const timer = managerMetrics.reconcile.startTimer({ loop: this.name });
      try {
        wakeAt = (await this.body()) ?? undefined;
        this.failures = 0;
        timer();
      } catch (err) {
        this.failures++;
        this.log.warn({ loop: this.name, err: String(err) }, 'loop pass failed');
        wakeAt = Date.now() + Math.min(2000, 50 * 2 ** this.failures);
        break;
      }
    } while (this.again && !this.stopped);
    this.running = false;
    if (this.stopped) return;
    const delay = Math.max(0, Math.min(this.periodMs, wakeAt === undefined ? this.periodMs : wakeAt - Date.now()));
    this.timer = setTimeout(() => this.trigger(), delay);
  }
}
