// Service discovery by DNS (Docker's names): on an orch network, `<service>`
// resolves to the service's VIP (or, in DNS round-robin mode, to its serving
// tasks' addresses) and `tasks.<service>` to its serving tasks' addresses.
// One resolver per network, in a worker thread living in the network's
// namespace on the gateway address (dns-worker.ts); containers use it as
// their DNS server (Docker's embedded resolver forwards to it). Names that
// are not the cluster's are forwarded from here, the host's namespace, to
// the host's resolvers.
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { Endpoint, ServiceEndpoint } from '../../proto/generated/orch.js';
import { addrIp } from '../../shared/ipam.js';
import type { Logger } from '../../shared/log.js';

const FORWARD_TIMEOUT_MS = 2000;

interface Resolver {
  worker: Worker;
  address: string;
  records: string;
}

/** The records of one network: name (a service's, and its aliases there) → addresses. */
export function dnsRecords(networkId: string, services: ServiceEndpoint[], endpoints: Endpoint[]): Array<[string, string[]]> {
  const out: Array<[string, string[]]> = [];
  for (const s of services.filter((x) => x.networkId === networkId)) {
    const tasks = endpoints.filter((e) => e.serviceId === s.serviceId && e.networkId === networkId && e.serving).map((e) => addrIp(e.addr)).sort();
    for (const name of [s.serviceName, ...s.aliases]) out.push([name, s.vip ? [addrIp(s.vip)] : tasks], [`tasks.${name}`, tasks]);
  }
  return out;
}

/**
 * For each task on the network that also joins others: its address here →
 * the records of its other networks. A container asks the resolver of one
 * of its networks only (the first), and must still find the services of
 * all of them, as Docker's embedded resolver answers per container.
 */
export function sourceRecords(networkId: string, services: ServiceEndpoint[], endpoints: Endpoint[]): Array<[string, Array<[string, string[]]>]> {
  const networksOf = new Map<string, string[]>();
  for (const e of endpoints) if (e.taskId) networksOf.set(e.taskId, [...(networksOf.get(e.taskId) ?? []), e.networkId]);
  const cache = new Map<string, Array<[string, string[]]>>();
  const recordsOf = (id: string) => cache.get(id) ?? cache.set(id, dnsRecords(id, services, endpoints)).get(id)!;
  const out: Array<[string, Array<[string, string[]]>]> = [];
  for (const e of endpoints) {
    const others = e.networkId === networkId && e.taskId ? networksOf.get(e.taskId)!.filter((id) => id !== networkId) : [];
    if (others.length) out.push([addrIp(e.addr), others.flatMap(recordsOf)]);
  }
  return out;
}

export class ServiceDns {
  private readonly resolvers = new Map<string, Resolver>();
  private readonly upstream = hostResolvers();

  constructor(private readonly log: Logger) {}

  /** Runs a resolver for each network given (at its gateway, in its namespace) with these records; stops the others. */
  sync(networks: Array<{ id: string; netnsPath: string; gateway: string; records: Array<[string, string[]]>; bySource: Array<[string, Array<[string, string[]]>]> }>): void {
    for (const [id, r] of this.resolvers) {
      if (networks.some((n) => n.id === id && n.gateway === r.address)) continue;
      r.worker.postMessage({ stop: true });
      this.resolvers.delete(id);
    }
    for (const n of networks) {
      let r = this.resolvers.get(n.id);
      if (!r) {
        const worker = new Worker(new URL('./dns-worker.js', import.meta.url), { workerData: { netnsPath: n.netnsPath, address: n.gateway } });
        worker.on('message', (m: { forward?: { id: number; query: Uint8Array }; error?: string }) => {
          if (m.error) this.log.warn({ network: n.id, err: m.error }, 'DNS resolver failed');
          if (m.forward) void this.forward(worker, m.forward.id, Buffer.from(m.forward.query));
        });
        worker.on('error', (err) => this.log.warn({ network: n.id, err: String(err) }, 'DNS resolver thread failed'));
        worker.unref();
        this.resolvers.set(n.id, (r = { worker, address: n.gateway, records: '' }));
      }
      const text = JSON.stringify([n.records, n.bySource]);
      if (text !== r.records) {
        r.records = text;
        r.worker.postMessage({ records: n.records, bySource: n.bySource });
      }
    }
  }

  async stop(): Promise<void> {
    await Promise.all([...this.resolvers.values()].map((r) => r.worker.terminate()));
    this.resolvers.clear();
  }

  /** Asks the host's first resolver; the answer (or nothing, after a timeout) goes back to the worker. */
  private async forward(worker: Worker, id: number, query: Buffer): Promise<void> {
    const server = this.upstream[0];
    if (!server) return;
    const socket = createSocket('udp4');
    const done = () => socket.close();
    const timer = setTimeout(done, FORWARD_TIMEOUT_MS);
    socket.on('message', (answer) => {
      clearTimeout(timer);
      worker.postMessage({ reply: { id, answer } });
      done();
    });
    socket.on('error', () => {
      clearTimeout(timer);
      done();
    });
    socket.send(query, 53, server);
  }
}

/** IPv4 nameservers of this host's /etc/resolv.conf. */
function hostResolvers(): string[] {
  try {
    return readFileSync('/etc/resolv.conf', 'utf8')
      .split('\n')
      .map((l) => /^\s*nameserver\s+(\d+\.\d+\.\d+\.\d+)/.exec(l)?.[1])
      .filter((x): x is string => !!x);
  } catch {
    return [];
  }
}
