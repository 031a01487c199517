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
// Each ruleset is one table, replaced whole (rule-sync.ts applies them);
// established connections keep their NAT (conntrack).

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
