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

/** The records of one network: name → addresses. */
export function dnsRecords(networkId: string, services: ServiceEndpoint[], endpoints: Endpoint[]): Array<[string, string[]]> {
  const out: Array<[string, string[]]> = [];
  for (const s of services.filter((x) => x.networkId === networkId)) {
    const tasks = endpoints.filter((e) => e.serviceId === s.serviceId && e.networkId === networkId && e.serving).map((e) => addrIp(e.addr)).sort();
    out.push([s.serviceName, s.vip ? [addrIp(s.vip)] : tasks], [`tasks.${s.serviceName}`, tasks]);
  }
  return out;
}

export class ServiceDns {
  private readonly resolvers = new Map<string, Resolver>();
  private readonly upstream = hostResolvers();

  constructor(private readonly log: Logger) {}

  /** Runs a resolver for each network given (at its gateway, in its namespace) with these records; stops the others. */
  sync(networks: Array<{ id: string; netnsPath: string; gateway: string; records: Array<[string, string[]]> }>): void {
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
      const text = JSON.stringify(n.records);
      if (text !== r.records) {
        r.records = text;
        r.worker.postMessage({ records: n.records });
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
