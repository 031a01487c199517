// Which etcd members answer, asked every CHECK_MS. A member whose host died
// or was cut off goes silent: a call sent to it learns so only by its own
// deadline (seconds), and every new call has a chance to be sent there too.
// So a member that answered nothing for SILENT_MS is passed over by new calls
// at once: its circuit breaker (the client's per-member policy) is held open
// until it answers again, and 'silent' is emitted, so that a stream known to
// be on it (the mirror's watch) moves at once. Other calls and streams
// already on its connection end when the connection's keepalive fails
// (connectEtcd's gRPC options).
import { EventEmitter } from 'node:events';
import type { CircuitBreakerPolicy, IDisposable } from 'cockatiel';
import type { Etcd3 } from 'etcd3';

const CHECK_MS = 250;
const SILENT_MS = 750;

/** One member: its breaker, its own status client, and when it last answered. */
interface Member {
  breaker: CircuitBreakerPolicy;
  status: Etcd3;
  answeredAt: number;
  asking: boolean;
  held?: IDisposable;
}

/** Emits 'silent' (the endpoint) when a member starts being passed over. */
export class MemberHealth extends EventEmitter {
  private readonly members = new Map<string, Member>();
  private timer: NodeJS.Timeout | undefined;

  /** `statusClient`: a client of that member alone, with a short deadline. */
  constructor(private readonly statusClient: (endpoint: string) => Etcd3) {
    super();
  }

  /** The members not passed over now. */
  answering(): string[] {
    return [...this.members].filter(([, m]) => !m.held).map(([endpoint]) => endpoint);
  }

  /** Checks a member from now on and holds `breaker` (the client's policy for it) open while it is silent; returns the breaker. */
  watch(endpoint: string, breaker: CircuitBreakerPolicy): CircuitBreakerPolicy {
    this.members.set(endpoint, { breaker, status: this.statusClient(endpoint), answeredAt: Date.now(), asking: false });
    this.timer ??= setInterval(() => this.check(), CHECK_MS);
    this.timer.unref();
    return breaker;
  }

  stop(): void {
    clearInterval(this.timer);
    for (const m of this.members.values()) {
      m.held?.dispose();
      m.status.close();
    }
    this.members.clear();
  }

  private check(): void {
    const now = Date.now();
    for (const m of this.members.values()) {
      if (!m.asking) {
        m.asking = true;
        m.status.maintenance
          .status()
          .then(() => (m.answeredAt = Math.max(m.answeredAt, Date.now())))
          .catch(() => undefined)
          .finally(() => (m.asking = false));
      }
    }
    const silent = [...this.members.values()].filter((m) => now - m.answeredAt > SILENT_MS);
    // With none answering, nothing is held: each call fails by its deadline and says why.
    const hold = silent.length < this.members.size ? new Set(silent) : new Set<Member>();
    for (const [endpoint, m] of this.members) {
      if (hold.has(m) && !m.held) {
        m.held = m.breaker.isolate();
        this.emit('silent', endpoint);
      } else if (!hold.has(m) && m.held) {
        m.held.dispose();
        m.held = undefined;
      }
    }
  }
}
