// The orch leader keeps etcd's raft leader off its own host. When one host
// runs both and dies, the cluster pays two elections in series: etcd's first,
// then ours, whose writes wait for etcd's. Apart, a host loss costs one.
// While leading, every CHECK_MS: if the raft leader is the etcd member on
// this manager's host (same address), ask it to hand leadership to another
// member. Members are matched by address; if none matches, nothing is done.
import type { Etcd3 } from 'etcd3';
import type { Logger } from '../shared/log.js';
import { connectMember, type EtcdTls } from './store/index.js';

const CHECK_MS = 5000;

export class RaftApart {
  private readonly members: Array<{ endpoint: string; client: Etcd3 }>;
  private timer: NodeJS.Timeout | undefined;
  private checking = false;

  constructor(
    endpoints: string,
    tls: EtcdTls | undefined,
    private readonly myHost: string,
    private readonly log: Logger,
  ) {
    this.members = endpoints.split(',').filter(Boolean).map((endpoint) => ({ endpoint, client: connectMember(endpoint, tls) }));
  }

  start(): void {
    if (this.members.length < 2 || !this.members.some((m) => hostOf(m.endpoint) === this.myHost)) return;
    void this.check();
    this.timer = setInterval(() => void this.check(), CHECK_MS);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  close(): void {
    this.stop();
    for (const m of this.members) m.client.close();
  }

  private async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      const seen = await Promise.all(
        this.members.map(async (m) => {
          const s = await m.client.maintenance.status().catch(() => undefined);
          return s && { ...m, id: s.header.member_id, leader: s.leader };
        }),
      );
      const up = seen.filter((x): x is NonNullable<typeof x> => !!x);
      const leader = up.find((m) => m.id === m.leader);
      if (!leader || hostOf(leader.endpoint) !== this.myHost) return;
      const target = up.find((m) => m !== leader);
      if (!target) return;
      await leader.client.maintenance.moveLeader({ targetID: target.id });
      this.log.info({ from: leader.endpoint, to: target.endpoint }, "moved etcd's raft leadership off this manager's host");
    } catch (err) {
      this.log.debug({ err: String(err) }, 'checking where etcd leads failed; will look again');
    } finally {
      this.checking = false;
    }
  }
}

function hostOf(endpoint: string): string {
  try {
    return new URL(endpoint).hostname;
  } catch {
    return '';
  }
}
