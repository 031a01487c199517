// A follower's view of the leader's health: a Ping over mutual TLS with a
// short deadline. Used by the election to replace a leader that stopped
// answering before its lease runs out (leader writes are fenced, so a live
// leader deposed by mistake can do no harm, only lose a moment).
import { Metadata } from '@grpc/grpc-js';
import { ControlClient } from '../proto/generated/orch.js';
import { CLIENT_CHANNEL_OPTIONS, clientCredentials, type TlsMaterial } from '../shared/tls/credentials.js';

const PING_DEADLINE_MS = 750;

export class LeaderProbe {
  private client: ControlClient | undefined;
  private addr = '';
  private shown: TlsMaterial | undefined;

  /** `tls`: the certificate this manager holds now (renewals replace it). */
  constructor(private readonly tls: () => TlsMaterial) {}

  /** True if the manager at `addr` answers a Ping in time. */
  alive(addr: string): Promise<boolean> {
    if (addr !== this.addr || this.shown !== this.tls()) {
      this.close();
      this.addr = addr;
      this.shown = this.tls();
      this.client = new ControlClient(addr, clientCredentials(this.shown), { ...CLIENT_CHANNEL_OPTIONS, 'grpc.max_reconnect_backoff_ms': 250 });
    }
    const client = this.client!;
    return new Promise((resolve) => client.ping({}, new Metadata(), { deadline: new Date(Date.now() + PING_DEADLINE_MS) }, (err) => resolve(!err)));
  }

  close(): void {
    this.client?.close();
    this.client = undefined;
    this.addr = '';
  }
}
