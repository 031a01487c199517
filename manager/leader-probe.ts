// A follower's link to the leader. A Ping over mutual TLS with a short
// deadline tells the leader's health: the election uses it to replace a
// leader that stopped answering before its lease runs out (leader writes are
// fenced, so a live leader deposed by mistake can do no harm, only lose a
// moment). The same client carries what only the leader can serve (the logs
// agents publish to it).
import { Metadata } from '@grpc/grpc-js';
import { ControlClient } from '../proto/generated/orch.js';
import { CLIENT_CHANNEL_OPTIONS, clientCredentials, type TlsMaterial } from '../shared/tls/credentials.js';

const PING_DEADLINE_MS = 750;

export class LeaderProbe {
  private channel: ControlClient | undefined;
  private addr = '';
  private shown: TlsMaterial | undefined;

  /** `tls`: the certificate this manager holds now (renewals replace it). */
  constructor(private readonly tls: () => TlsMaterial) {}

  /** True if the manager at `addr` answers a Ping in time. */
  alive(addr: string): Promise<boolean> {
    const client = this.client(addr);
    return new Promise((resolve) => client.ping({}, new Metadata(), { deadline: new Date(Date.now() + PING_DEADLINE_MS) }, (err) => resolve(!err)));
  }

  /** A client for the manager at `addr` with this manager's certificate (a follower hands the leader what only it can serve). */
  client(addr: string): ControlClient {
    if (addr !== this.addr || this.shown !== this.tls() || !this.channel) {
      this.close();
      this.addr = addr;
      this.shown = this.tls();
      this.channel = new ControlClient(addr, clientCredentials(this.shown), { ...CLIENT_CHANNEL_OPTIONS, 'grpc.max_reconnect_backoff_ms': 250 });
    }
    return this.channel;
  }

  close(): void {
    this.channel?.close();
    this.channel = undefined;
    this.addr = '';
  }
}
