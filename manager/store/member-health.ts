// Which etcd members answer, asked every CHECK_MS. A member whose host died
// or was cut off goes silent: a call sent to it learns so only by its own
// deadline (seconds), and every new call has a chance to be sent there too.
// So a member that answered nothing for SILENT_MS is passed over by new calls
// at once: its circuit breaker (the client's per-member policy) is held open
// until it answers again, and 'silent' is emitted, so that a stream known to
// be on it (the mirror's watch) moves at once. A call still out on it fails
// then, as unavailable, and etcd3 retries it on another member: it need not
// wait up to 2.5 s for its connection's keepalive to fail. Other streams on
// the member's connection end when that keepalive fails (connectEtcd's gRPC
// options).
import { EventEmitter } from 'node:events';
import type { CircuitBreakerPolicy, IDisposable, IPolicy } from 'cockatiel';
import { GRPCUnavailableError, type Etcd3 } from 'etcd3';

const CHECK_MS = 250;
const SILENT_MS = 750;

/** One member: its breaker, its own status client, when it last answered, and how to fail each call out on it. */
interface Member {
  breaker: CircuitBreakerPolicy;
  status: Etcd3;
  answeredAt: number;
  asking: boolean;
  held?: IDisposable;
  out: Set<() => void>;
}

/**
 * A member's policy for etcd3: its breaker, and a call that is still out
 * when the member goes silent is failed then. A write so failed may still be
 * applied; its retry is then refused by its compare (every write that
 * depends on a read has one), as after any answer lost with a connection.
 */
class MemberPolicy implements IPolicy {
  declare readonly _altReturn: never;
  readonly onSuccess: CircuitBreakerPolicy['onSuccess'];
  readonly onFailure: CircuitBreakerPolicy['onFailure'];

  constructor(
    private readonly endpoint: string,
    private readonly member: Member,
  ) {
    this.onSuccess = member.breaker.onSuccess;
    this.onFailure = member.breaker.onFailure;
  }

  execute<T>(fn: (context: { signal: AbortSignal }) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const cut = () => reject(new GRPCUnavailableError(`etcd member ${this.endpoint} went silent`));
      this.member.out.add(cut);
      this.member.breaker
        .execute(fn, signal)
        .then(resolve, reject)
        .finally(() => this.member.out.delete(cut));
    });
  }
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

  /** Checks a member from now on and holds `breaker` open while it is silent; returns the member's policy for the client. */
  watch(endpoint: string, breaker: CircuitBreakerPolicy): IPolicy {
    const member: Member = { breaker, status: this.statusClient(endpoint), answeredAt: Date.now(), asking: false, out: new Set() };
    this.members.set(endpoint, member);
    this.timer ??= setInterval(() => this.check(), CHECK_MS);
    this.timer.unref();
    return new MemberPolicy(endpoint, member);
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
        for (const cut of m.out) cut();
        this.emit('silent', endpoint);
      } else if (!hold.has(m) && m.held) {
        m.held.dispose();
        m.held = undefined;
      }
    }
  }
}
