// Applying the load-balancing tables (lb.ts) to the kernel. A table is
// replaced whole, in one `nft -f -` transaction per namespace that holds every
// table of it that changed since the last run: a task that starts or leaves
// changes a table in several namespaces of every host at once, and on a
// busy host each run costs CPU that the engines starting the replacements
// need (runs go through libnftables on a thread of their own, nftables.ts,
// not through an nsenter and an nft process each). Changes that come
// while a run is under way wait for the next, and only the latest version of
// a table is applied. After a table is in, the conntrack entries of the
// backends that left it are deleted: UDP flows and unanswered TCP
// connections tracked to a backend that only left the pool, and every flow
// to a backend no longer on the network (its packets would go nowhere).
import { isDeepStrictEqual } from 'node:util';
import { agentMetrics } from '../metrics.js';
import type { Logger } from '../../shared/log.js';
import { sh, systemTool } from '../../shared/sh.js';
import { Nftables } from './nftables.js';

/** A table as it is wanted: its nft text, the addresses it DNATs to, and whether one that left is still reachable. */
interface Wanted {
  text: string;
  backends: Set<string>;
  reachable: (ip: string) => boolean;
  /** The table is to be deleted. */
  remove: boolean;
}

/**
 * Applies tables to namespaces (or the host's), only when they changed.
 * What a table sent traffic to is remembered; after a restart it is read back
 * from the kernel's table, so connections to a backend that went while the
 * agent was away are cleaned up too. The deletions run on a queue of their
 * own: `settled()` (the drain's acknowledgement) waits for the rules only,
 * since no new connection reaches a backend once its rule is gone.
 */
export class RuleSync {
  /** Per namespace path ('' = the agent's own), per table name: what is in the kernel. */
  private readonly applied = new Map<string, Map<string, { text: string; backends: Set<string> }>>();
  /** Per namespace path, per table name: what the next run applies. */
  private pending = new Map<string, Map<string, Wanted>>();
  /** A run is queued and has not taken the pending tables yet. */
  private runQueued = false;
  private queue: Promise<void> = Promise.resolve();
  private cleanup: Promise<void> = Promise.resolve();
  private readonly nft = new Nftables();

  constructor(private readonly log: Logger) {}

  /**
   * Applies `text` (one table) in the namespace at `netnsPath` ('' = the
   * agent's own); `backends` are the addresses it DNATs to, `reachable` says
   * whether one that left is still an endpoint this host can reach. Resolves
   * once a run that holds it (or a later version of the table) is done.
   */
  apply(netnsPath: string, text: string, backends: string[] = [], reachable: (ip: string) => boolean = () => false): Promise<void> {
    const name = tableName(text);
    const want = new Set(backends);
    const latest = this.pending.get(netnsPath)?.get(name) ?? this.applied.get(netnsPath)?.get(name);
    if (latest && latest.text === text && isDeepStrictEqual(latest.backends, want)) return this.queue;
    return this.want(netnsPath, name, { text, backends: want, reachable, remove: false });
  }

  /** Resolves once every update queued so far has run. */
  settled(): Promise<void> {
    return this.queue;
  }

  /** Deletes a table (gone already is fine) and forgets it. */
  remove(netnsPath: string, name: string): Promise<void> {
    return this.want(netnsPath, name, { text: `table ip ${name}\ndelete table ip ${name}\n`, backends: new Set(), reachable: () => false, remove: true });
  }

  /** Ends the nftables thread once the queued runs are done. */
  async close(): Promise<void> {
    await this.queue;
    await this.nft.close();
  }

  /** Forgets what was applied in a namespace that is gone. */
  forget(netnsPath: string): void {
    this.applied.delete(netnsPath);
    this.pending.delete(netnsPath);
  }

  private want(netnsPath: string, name: string, w: Wanted): Promise<void> {
    const tables = this.pending.get(netnsPath) ?? new Map<string, Wanted>();
    tables.set(name, w);
    this.pending.set(netnsPath, tables);
    if (!this.runQueued) {
      this.runQueued = true;
      this.queue = this.queue.then(() => this.run());
    }
    return this.queue;
  }

  /** One run: every pending table, one nft transaction per namespace. */
  private async run(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    this.runQueued = false;
    for (const [netnsPath, tables] of batch) await this.applyIn(netnsPath, tables);
  }

  private async applyIn(netnsPath: string, tables: Map<string, Wanted>): Promise<void> {
    const applied = this.applied.get(netnsPath) ?? new Map<string, { text: string; backends: Set<string> }>();
    try {
      const before = new Map<string, Set<string>>();
      for (const name of tables.keys()) before.set(name, applied.get(name)?.backends ?? (await this.dnatTargets(netnsPath, name)));
      const timer = agentMetrics.nftSync.startTimer();
      await this.nft.run(netnsPath, [...tables.values()].map((w) => w.text).join(''));
      timer();
      this.log.debug({ netns: netnsPath || 'host', tables: [...tables.keys()] }, 'nftables rules applied');
      for (const [name, w] of tables) {
        if (w.remove) applied.delete(name);
        else applied.set(name, { text: w.text, backends: w.backends });
        const left = [...before.get(name)!].filter((ip) => !w.backends.has(ip));
        if (left.length) this.cleanup = this.cleanup.then(() => forgetFlows(netnsPath, left, w.reachable));
      }
      this.applied.set(netnsPath, applied);
    } catch (err) {
      // Not recorded as applied: the next apply of the same text runs again.
      for (const name of tables.keys()) applied.delete(name);
      agentMetrics.nftErrors.inc();
      this.log.warn({ netns: netnsPath || 'host', tables: [...tables.keys()], err: String(err) }, 'applying nftables rules failed; will retry');
    }
  }

  /** The addresses a table in the kernel DNATs to (none if there is no such table). */
  private async dnatTargets(netnsPath: string, name: string): Promise<Set<string>> {
    const listed = await this.nft.run(netnsPath, `list table ip ${name}`).catch(() => '');
    return new Set(listed.split('\n').flatMap((l) => (/ dnat (?:ip )?to (.*)$/.exec(l)?.[1] ?? '').match(/\d+\.\d+\.\d+\.\d+/g) ?? []));
  }
}

/** The table a text makes: its first line is `table <family> <name>`. */
function tableName(text: string): string {
  return text.split('\n')[0]!.split(' ')[2]!;
}

/**
 * Deletes the flows tracked to backends that left. UDP ones would stick to it
 * for ever, and an unanswered TCP connection's retransmitted SYNs too; both
 * are chosen afresh once deleted. Established TCP connections to a backend
 * that only left the pool (its node is down, say) run on, as kube-proxy has
 * it; to one no longer on the network nothing gets through: deleted, their
 * next packet is reset. conntrack exits 1 when nothing matched: fine.
 */
async function forgetFlows(netnsPath: string, left: string[], reachable: (ip: string) => boolean): Promise<void> {
  for (const ip of left) {
    const flows = reachable(ip) ? [['-p', 'udp'], ['-p', 'tcp', '--state', 'SYN_SENT']] : [[]];
    for (const f of flows) await conntrack(netnsPath, ['-D', ...f, '--reply-src', ip]).catch(() => undefined);
  }
}

/**
 * Runs conntrack in a namespace (nsenter) or here, bounded to 10 s, at the
 * lowest CPU priority (nice 19): a deletion reads the whole table (tens of
 * thousands of flows on a busy published port, 0.2 s of CPU each time), and
 * it comes when backends leave, just when the engines start their
 * replacements.
 */
async function conntrack(netnsPath: string, args: string[]): Promise<void> {
  const argv = netnsPath ? [systemTool('nsenter'), `--net=${netnsPath}`, systemTool('conntrack'), ...args] : [systemTool('conntrack'), ...args];
  await sh('nice', ['-n', '19', ...argv], { timeoutMs: 10_000 });
}
