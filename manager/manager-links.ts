// This manager's links to the others, over mutual TLS with its own
// certificate. A Ping with a short deadline tells whether one answers: the
// election uses it to replace a leader that stopped answering before its
// lease runs out (leader writes are fenced, so a live leader deposed by
// mistake can do no harm, only lose a moment), and `node ls` to show each
// manager as reachable or not; a TCP handshake tells a dead host from a dead
// manager. The same clients carry what only the leader
// can serve (the logs agents publish to it).
import { connect } from 'node:net';
import { Metadata } from '@grpc/grpc-js';
import { ControlClient } from '../proto/generated/orch.js';
import { CLIENT_CHANNEL_OPTIONS, clientCredentials, type TlsMaterial } from '../shared/tls/credentials.js';

const PING_DEADLINE_MS = 750;

/** How long the host of a manager that did not answer gets to answer a TCP handshake. */
const HANDSHAKE_MS = 300;

/** What a ping of another manager found (ManagerLinks.ping). */
export type PingOutcome = 'answered' | 'host-up' | 'silent';

export class ManagerLinks {
  private readonly clients = new Map<string, ControlClient>();
  private shown: TlsMaterial | undefined;

  /** `tls`: the certificate this manager holds now (renewals replace it). */
  constructor(private readonly tls: () => TlsMaterial) {}

  /** True if the manager at `addr` answers a Ping in time. */
  async alive(addr: string): Promise<boolean> {
    return (await this.ping(addr)) === 'answered';
  }

  /**
   * Pings the manager at `addr`: it answered; it did not but its host's
   * kernel does (it refuses or completes a TCP handshake at the port: the
   * manager crashed or hangs, the host is up); or nothing answers at all
   * (the host, or the way to it, is gone).
   */
  async ping(addr: string): Promise<PingOutcome> {
    const client = this.client(addr);
    const answered = await new Promise<boolean>((resolve) => client.ping({}, new Metadata(), { deadline: new Date(Date.now() + PING_DEADLINE_MS) }, (err) => resolve(!err)));
    if (answered) return 'answered';
    return (await hostAnswers(addr)) ? 'host-up' : 'silent';
  }

  /** A client for the manager at `addr` (one per address, made anew when this manager's certificate changes). */
  client(addr: string): ControlClient {
    if (this.shown !== this.tls()) {
      this.close();
      this.shown = this.tls();
    }
    let c = this.clients.get(addr);
    if (!c) {
      c = new ControlClient(addr, clientCredentials(this.shown!), { ...CLIENT_CHANNEL_OPTIONS, 'grpc.max_reconnect_backoff_ms': 250 });
      this.clients.set(addr, c);
    }
    return c;
  }

  /** Keeps the clients of these addresses only (managers come and go). */
  keep(addrs: ReadonlySet<string>): void {
    for (const [addr, c] of this.clients) {
      if (addrs.has(addr)) continue;
      c.close();
      this.clients.delete(addr);
    }
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

/** Whether the host at `addr` (host:port) answers a TCP handshake there, with a connection or a refusal, within HANDSHAKE_MS. */
export function hostAnswers(addr: string): Promise<boolean> {
  const i = addr.lastIndexOf(':');
  return new Promise((resolve) => {
    const socket = connect({ host: addr.slice(0, i), port: Number(addr.slice(i + 1)), timeout: HANDSHAKE_MS });
    const done = (up: boolean) => {
      socket.destroy();
      resolve(up);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED'));
  });
}
