// This manager's links to the others, over mutual TLS with its own
// certificate. A Ping with a short deadline tells whether one answers: the
// election uses it to replace a leader that stopped answering before its
// lease runs out (leader writes are fenced, so a live leader deposed by
// mistake can do no harm, only lose a moment), and `node ls` to show each
// manager as reachable or not. The same clients carry what only the leader
// can serve (the logs agents publish to it).
import { Metadata } from '@grpc/grpc-js';
import { ControlClient } from '../proto/generated/orch.js';
import { CLIENT_CHANNEL_OPTIONS, clientCredentials, type TlsMaterial } from '../shared/tls/credentials.js';

const PING_DEADLINE_MS = 750;

export class ManagerLinks {
  private readonly clients = new Map<string, ControlClient>();
  private shown: TlsMaterial | undefined;

  /** `tls`: the certificate this manager holds now (renewals replace it). */
  constructor(private readonly tls: () => TlsMaterial) {}

  /** True if the manager at `addr` answers a Ping in time. */
  alive(addr: string): Promise<boolean> {
    const client = this.client(addr);
    return new Promise((resolve) => client.ping({}, new Metadata(), { deadline: new Date(Date.now() + PING_DEADLINE_MS) }, (err) => resolve(!err)));
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
