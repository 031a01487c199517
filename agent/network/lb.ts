// Load balancing in the kernel with nftables, as kube-proxy's nftables mode
// does (no IPVS on this kernel, no userspace proxy):
//  - in a network's namespace, traffic to a service's VIP is DNATed to one of
//    its serving tasks, chosen per connection (`numgen random`); replies are
//    un-NATed by conntrack on their way back through the bridge;
//  - in the host's namespace, a published port (ingress mode) is DNATed to a
//    task's address on the ingress network, and in the ingress network's
//    namespace SNATed to this node's ingress address, so that replies come
//    back the same way.
// Each ruleset is one table, replaced whole in one `nft -f -` transaction;
// established connections keep their NAT (conntrack), and connections
// tracked to backends that left are deleted.
import type { Logger } from '../../shared/log.js';
import { sh, systemTool } from '../../shared/sh.js';

/** A VIP and the addresses behind it. */
export interface VipRule {
  vip: string;
  backends: string[];
}

/** A published port and the ingress addresses of the tasks behind it. */
export interface PortRule {
  protocol: 'tcp' | 'udp';
  published: number;
  target: number;
  backends: string[];
}

/** The table of a network's namespace: VIP → backend. */
export function vipTable(rules: VipRule[]): string {
  const lines = rules.filter((r) => r.backends.length).map((r) => `    ip daddr ${r.vip} dnat ip to ${pick(r.backends)}`);
  return table('orch-lb', [chain('prerouting', 'nat', 'prerouting', 'dstnat', lines)]);
}

/** The host's table: published port → a task's ingress address and target port. */
export function ingressHostTable(rules: PortRule[]): string {
  const lines = rules
    .filter((r) => r.backends.length)
    .map((r) => {
      // One target is written addr:port; several are a map of addr . port.
      const to = r.backends.length === 1 ? `${r.backends[0]}:${r.target}` : pick(r.backends.map((b) => `${b} . ${r.target}`));
      return `    fib daddr type local ${r.protocol} dport ${r.published} dnat ip to ${to}`;
    });
  return table('orch-ingress', [chain('prerouting', 'nat', 'prerouting', 'dstnat', lines), chain('output', 'nat', 'output', '-100', lines)]);
}

/** The ingress network's table: what comes from the host link leaves for a task from this node's ingress address. */
export function ingressNsTable(hostLink: string, bridge: string, ingressAddr: string): string {
  return table('orch-ingress', [chain('postrouting', 'nat', 'postrouting', 'srcnat', [`    iifname "${hostLink}" oifname "${bridge}" snat ip to ${ingressAddr}`])]);
}

function pick(targets: string[]): string {
  if (targets.length === 1) return targets[0]!;
  return `numgen random mod ${targets.length} map { ${targets.map((t, i) => `${i} : ${t}`).join(', ')} }`;
}

function chain(name: string, type: string, hook: string, priority: string, rules: string[]): string {
  return [`  chain ${name} {`, `    type ${type} hook ${hook} priority ${priority}; policy accept;`, ...rules, '  }'].join('\n');
}

/** Replaces the table whole: the first line makes sure it exists, so the delete never fails. */
function table(name: string, chains: string[]): string {
  return [`table ip ${name}`, `delete table ip ${name}`, `table ip ${name} {`, ...chains, '}', ''].join('\n');
}

/** Applies tables to namespaces (or the host's), only when they changed, one at a time. */
export class RuleSync {
  private readonly applied = new Map<string, string>();
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly log: Logger) {}

  /** Applies `text` in the namespace at `netnsPath` ('' = the agent's own) and deletes conntrack entries of `gone` backends there. */
  apply(netnsPath: string, text: string, gone: string[] = []): Promise<void> {
    const key = `${netnsPath}:${text.split('\n')[0]}`;
    if (this.applied.get(key) === text && gone.length === 0) return this.queue;
    this.queue = this.queue.then(async () => {
      try {
        await run(netnsPath, 'nft', ['-f', '-'], text);
        this.applied.set(key, text);
        this.log.debug({ netns: netnsPath || 'host', table: key }, 'nftables rules applied');
        // conntrack exits 1 when nothing matched: fine.
        for (const ip of gone) await run(netnsPath, 'conntrack', ['-D', '--reply-src', ip]).catch(() => undefined);
      } catch (err) {
        this.applied.delete(key);
        this.log.warn({ netns: netnsPath || 'host', err: String(err) }, 'applying nftables rules failed; will retry');
      }
    });
    return this.queue;
  }

  /** Forgets what was applied in a namespace that is gone. */
  forget(netnsPath: string): void {
    for (const k of this.applied.keys()) if (k.startsWith(`${netnsPath}:`)) this.applied.delete(k);
  }
}

/** Runs a tool in a namespace (nsenter) or here, with `input` on stdin; bounded to 10 s. */
async function run(netnsPath: string, cmd: string, args: string[], input = ''): Promise<void> {
  const [bin, argv] = netnsPath ? ['nsenter', [`--net=${netnsPath}`, systemTool(cmd), ...args]] : [cmd, args];
  await sh(bin, argv, { input: Buffer.from(input), timeoutMs: 10_000 });
}
