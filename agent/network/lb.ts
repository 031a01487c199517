// Load balancing in the kernel with nftables, as kube-proxy's nftables mode
// does (no IPVS on this kernel, no userspace proxy):
//  - in a network's namespace, traffic to a service's VIP is DNATed to one of
//    its serving tasks, chosen per connection (`numgen random`); replies are
//    un-NATed by conntrack on their way back through the bridge;
//  - in the host's namespace, a published port is DNATed to a task's address
//    on the ingress network, and in the ingress network's namespace SNATed to
//    this node's ingress address, so that replies come back the same way;
//    with traffic=local (and in host mode) only to this node's own tasks and
//    without SNAT, so the task sees its client, as Kubernetes'
//    externalTrafficPolicy: Local does.
// Each ruleset is one table, replaced whole in one `nft -f -` transaction;
// established connections keep their NAT (conntrack); UDP flows and
// unanswered TCP connections tracked to backends that left are deleted, and
// every flow to a backend no longer on the network.
import { agentMetrics } from '../metrics.js';
import type { Logger } from '../../shared/log.js';
import { sh, systemTool } from '../../shared/sh.js';

/** A VIP and the addresses behind it. */
export interface VipRule {
  vip: string;
  backends: string[];
}

/** A published port and the ingress addresses of the tasks behind it here. */
export interface PortRule {
  protocol: 'tcp' | 'udp';
  published: number;
  target: number;
  /** Every serving task (traffic=cluster), or only this node's (traffic=local, mode=host). */
  backends: string[];
  /** With no backend, refuse at once (ingress mode: the port is the cluster's on every node); else leave the port alone (host mode). */
  refuseEmpty: boolean;
}

/** A task port reached from this host without SNAT, so the task sees its client (traffic=local, mode=host). */
export interface DirectBackend {
  protocol: 'tcp' | 'udp';
  addr: string;
  port: number;
}

/** The table of a network's namespace: VIP → backend. */
export function vipTable(rules: VipRule[]): string {
  const lines = rules.filter((r) => r.backends.length).map((r) => `    ip daddr ${r.vip} dnat ip to ${pick(r.backends)}`);
  return table('orch-lb', [chain('prerouting', 'nat', 'prerouting', 'dstnat', lines)]);
}

/**
 * A network's tombstones: frames from other hosts to the addresses of this
 * host's endpoints that left lately are refused at once (TCP reset, ICMP
 * port unreachable), so rules still pointing there (on a host whose agent is
 * away, say) fail fast instead of timing out. On the VXLAN device's ingress:
 * this kernel has no reject in the bridge family.
 */
export function goneTable(vxlan: string, addrs: string[]): string {
  const set = `{ ${addrs.join(', ')} }`;
  const lines = addrs.length ? [`    meta l4proto tcp ip daddr ${set} reject with tcp reset`, `    ip daddr ${set} reject`] : [];
  return table('orch-gone', [chain('ingress', 'filter', `ingress device "${vxlan}"`, 'filter', lines)], 'netdev');
}

/** The name of the host's table of published ports. */
export const INGRESS_TABLE = 'orch-ingress';

/**
 * The host's table: a published port → a task's ingress address and target
 * port, for connections from outside (prerouting) and from the host itself
 * (output); connections from loopback leave through `link` with the host's
 * address on it (`linkAddr`), and nothing coming back on it may reach 127/8;
 * a port with no backend is refused, not left to time out.
 */
export function ingressHostTable(link: string, linkAddr: string, rules: PortRule[]): string {
  const dnat = rules
    .filter((r) => r.backends.length)
    .map((r) => {
      // One target is written addr:port; several are a map of addr . port.
      const to = r.backends.length === 1 ? `${r.backends[0]}:${r.target}` : pick(r.backends.map((b) => `${b} . ${r.target}`));
      return `    fib daddr type local ${r.protocol} dport ${r.published} dnat ip to ${to}`;
    });
  const refuse = rules
    .filter((r) => !r.backends.length && r.refuseEmpty)
    .map((r) => `    ${r.protocol} dport ${r.published} reject${r.protocol === 'tcp' ? ' with tcp reset' : ''}`);
  return table(INGRESS_TABLE, [
    chain('prerouting', 'nat', 'prerouting', 'dstnat', dnat),
    chain('output', 'nat', 'output', '-100', dnat),
    chain('postrouting', 'nat', 'postrouting', 'srcnat', [`    oifname "${link}" ip saddr 127.0.0.0/8 snat ip to ${linkAddr}`]),
    chain('guard', 'filter', 'prerouting', 'raw', [`    iifname "${link}" ip daddr 127.0.0.0/8 drop`]),
    chain('refuse', 'filter', 'input', 'filter', refuse),
  ]);
}

/**
 * The ingress network's table: what comes from the host link leaves for a
 * task from this node's ingress address, so replies come back through this
 * node; except to `direct` backends, which see the client's own address (they
 * answer through the ingress network, their default route).
 */
export function ingressNsTable(hostLink: string, bridge: string, ingressAddr: string, direct: DirectBackend[] = []): string {
  const from = `iifname "${hostLink}" oifname "${bridge}"`;
  const keep = (['tcp', 'udp'] as const).flatMap((proto) => {
    const set = [...new Set(direct.filter((d) => d.protocol === proto).map((d) => `${d.addr} . ${d.port}`))];
    return set.length ? [`    ${from} ip daddr . ${proto} dport { ${set.join(', ')} } return`] : [];
  });
  return table(INGRESS_TABLE, [chain('postrouting', 'nat', 'postrouting', 'srcnat', [...keep, `    ${from} snat ip to ${ingressAddr}`])]);
}

function pick(targets: string[]): string {
  if (targets.length === 1) return targets[0]!;
  return `numgen random mod ${targets.length} map { ${targets.map((t, i) => `${i} : ${t}`).join(', ')} }`;
}

function chain(name: string, type: string, hook: string, priority: string, rules: string[]): string {
  return [`  chain ${name} {`, `    type ${type} hook ${hook} priority ${priority}; policy accept;`, ...rules, '  }'].join('\n');
}

/** Replaces the table whole: the first line makes sure it exists, so the delete never fails. */
function table(name: string, chains: string[], family = 'ip'): string {
  return [`table ${family} ${name}`, `delete table ${family} ${name}`, `table ${family} ${name} {`, ...chains, '}', ''].join('\n');
}

/**
 * Applies tables to namespaces (or the host's), only when they changed, one
 * at a time, and then deletes the conntrack entries of backends that left.
 * What a table sent traffic to is remembered; after a restart it is read back
 * from the kernel's table, so connections to a backend that went while the
 * agent was away are cleaned up too. The deletions run on a queue of their
 * own: `settled()` (the drain's acknowledgement) waits for the rules only,
 * since no new connection reaches a backend once its rule is gone.
 */
export class RuleSync {
  private readonly applied = new Map<string, string>();
  private readonly backends = new Map<string, Set<string>>();
  private queue: Promise<void> = Promise.resolve();
  private cleanup: Promise<void> = Promise.resolve();

  constructor(private readonly log: Logger) {}

  /**
   * Applies `text` in the namespace at `netnsPath` ('' = the agent's own);
   * `backends` are the addresses it DNATs to, `reachable` says whether one
   * that left is still an endpoint this host can reach.
   */
  apply(netnsPath: string, text: string, backends: string[] = [], reachable: (ip: string) => boolean = () => false): Promise<void> {
    const name = text.split('\n')[0]!.split(' ')[2]!;
    const key = `${netnsPath}:${name}`;
    const known = this.backends.get(key);
    const want = new Set(backends);
    if (this.applied.get(key) === text && known && known.size === want.size && [...want].every((b) => known.has(b))) return this.queue;
    this.queue = this.queue.then(async () => {
      try {
        const before = this.backends.get(key) ?? (await dnatTargets(netnsPath, name));
        const timer = agentMetrics.nftSync.startTimer();
        await run(netnsPath, 'nft', ['-f', '-'], text);
        timer();
        this.applied.set(key, text);
        this.backends.set(key, want);
        this.log.debug({ netns: netnsPath || 'host', table: name }, 'nftables rules applied');
        const left = [...before].filter((ip) => !want.has(ip));
        if (left.length) this.cleanup = this.cleanup.then(() => forgetFlows(netnsPath, left, reachable));
      } catch (err) {
        this.applied.delete(key);
        agentMetrics.nftErrors.inc();
        this.log.warn({ netns: netnsPath || 'host', err: String(err) }, 'applying nftables rules failed; will retry');
      }
    });
    return this.queue;
  }

  /** Resolves once every update queued so far has run. */
  settled(): Promise<void> {
    return this.queue;
  }

  /** Deletes a table (gone already is fine) and forgets it. */
  remove(netnsPath: string, name: string): Promise<void> {
    this.queue = this.queue.then(async () => {
      await run(netnsPath, 'nft', ['-f', '-'], `table ip ${name}\ndelete table ip ${name}\n`).catch((err) => this.log.warn({ err: String(err) }, 'removing nftables rules failed'));
      this.applied.delete(`${netnsPath}:${name}`);
      this.backends.delete(`${netnsPath}:${name}`);
    });
    return this.queue;
  }

  /** Forgets what was applied in a namespace that is gone. */
  forget(netnsPath: string): void {
    for (const k of this.applied.keys()) if (k.startsWith(`${netnsPath}:`)) this.applied.delete(k);
    for (const k of this.backends.keys()) if (k.startsWith(`${netnsPath}:`)) this.backends.delete(k);
  }
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
    for (const f of flows) await run(netnsPath, 'conntrack', ['-D', ...f, '--reply-src', ip]).catch(() => undefined);
  }
}

/** The addresses a table in the kernel DNATs to (none if there is no such table). */
async function dnatTargets(netnsPath: string, name: string): Promise<Set<string>> {
  const listed = await capture(netnsPath, 'nft', ['list', 'table', 'ip', name]).catch(() => '');
  const targets = listed.split('\n').flatMap((l) => (/ dnat (?:ip )?to (.*)$/.exec(l)?.[1] ?? '').match(/\d+\.\d+\.\d+\.\d+/g) ?? []);
  return new Set(targets);
}

/** Runs a tool in a namespace (nsenter) or here, with `input` on stdin; bounded to 10 s. */
async function run(netnsPath: string, cmd: string, args: string[], input = ''): Promise<void> {
  await capture(netnsPath, cmd, args, input);
}

/** Like run(), resolving with what the tool printed. */
function capture(netnsPath: string, cmd: string, args: string[], input?: string): Promise<string> {
  const [bin, argv] = netnsPath ? ['nsenter', [`--net=${netnsPath}`, systemTool(cmd), ...args]] : [cmd, args];
  return sh(bin, argv, { input: input === undefined ? undefined : Buffer.from(input), timeoutMs: 10_000 });
}
