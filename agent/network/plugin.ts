// The agent as a Docker network plugin (libnetwork's remote driver API: JSON
// over HTTP on a unix socket in /run/docker/plugins). Docker calls it while
// it starts a container, so the container has its interface, address and
// routes before its process starts (ADR 0007):
//   CreateEndpoint → we name the MAC (derived from the address Docker's IPAM
//                    gave from the address orch allocated);
//   Join           → a veth pair whose inner end is on the network's bridge;
//                    Docker moves the other end in, names it eth*, sets the
//                    address and the default route through the gateway;
//   DeleteEndpoint → the veth goes.
// The driver's name is per node (`orch-<node id>`): the lab's engines share
// one plugin directory.
import { mkdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { addrIp, macFor } from '../../shared/ipam.js';
import type { Logger } from '../../shared/log.js';
import type { Overlay } from './overlay.js';

export const PLUGIN_DIR = '/run/docker/plugins';
/** The `--opt` on a Docker network that names the orch network behind it. */
export const NETWORK_OPTION = 'orch.network';
const CONTENT_TYPE = 'application/vnd.docker.plugins.v1.2+json';

type Body = Record<string, unknown> & {
  NetworkID?: string;
  EndpointID?: string;
  Options?: Record<string, unknown>;
  Interface?: { Address?: string; MacAddress?: string };
};

export class NetworkPlugin {
  readonly driver: string;
  private readonly socket: string;
  private server: Server | undefined;
  /** Docker network id → orch network id. */
  private readonly networks = new Map<string, string>();
  /** Docker endpoint id → its MAC. */
  private readonly macs = new Map<string, string>();

  constructor(
    nodeId: string,
    private readonly overlay: Overlay,
    private readonly log: Logger,
  ) {
    this.driver = `orch-${nodeId.slice(0, 12)}`;
    this.socket = join(PLUGIN_DIR, `${this.driver}.sock`);
  }

  /** Listens on the plugin socket (replacing one left by a previous run). */
  async start(): Promise<void> {
    mkdirSync(PLUGIN_DIR, { recursive: true });
    rmSync(this.socket, { force: true });
    this.server = createServer((req, res) => {
      let raw = '';
      req.on('data', (d) => (raw += d));
      req.on('end', () => {
        let out: unknown;
        try {
          out = this.handle(req.url ?? '', raw ? (JSON.parse(raw) as Body) : {});
        } catch (err) {
          this.log.warn({ call: req.url, err: String(err) }, 'network plugin call failed');
          out = { Err: err instanceof Error ? err.message : String(err) };
        }
        res.writeHead(200, { 'Content-Type': CONTENT_TYPE });
        res.end(JSON.stringify(out));
      });
    });
    await new Promise<void>((resolve, reject) => this.server!.once('error', reject).listen(this.socket, resolve));
    this.log.info({ socket: this.socket }, 'docker network plugin listening');
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    rmSync(this.socket, { force: true });
  }

  /** Records which orch network a Docker network stands for (Docker's networks outlive an agent restart). */
  remember(dockerNetworkId: string, orchNetworkId: string): void {
    this.networks.set(dockerNetworkId, orchNetworkId);
  }

  private handle(call: string, b: Body): unknown {
    switch (call) {
      case '/Plugin.Activate':
        return { Implements: ['NetworkDriver'] };
      case '/NetworkDriver.GetCapabilities':
        return { Scope: 'local', ConnectivityScope: 'global' };
      case '/NetworkDriver.CreateNetwork': {
        const generic = (b.Options?.['com.docker.network.generic'] ?? {}) as Record<string, string>;
        const id = generic[NETWORK_OPTION];
        if (!id) return { Err: `networks of driver ${this.driver} are made by the orch agent (option ${NETWORK_OPTION} missing)` };
        this.remember(b.NetworkID!, id);
        return {};
      }
      case '/NetworkDriver.DeleteNetwork':
        this.networks.delete(b.NetworkID!);
        return {};
      case '/NetworkDriver.CreateEndpoint': {
        const addr = b.Interface?.Address;
        if (!addr) return { Err: 'an orch endpoint needs an address' };
        const given = b.Interface?.MacAddress;
        const mac = given || macFor(addrIp(addr));
        this.macs.set(b.EndpointID!, mac);
        return { Interface: given ? {} : { MacAddress: mac } };
      }
      case '/NetworkDriver.EndpointOperInfo':
        return { Value: {} };
      case '/NetworkDriver.Join': {
        const networkId = this.orchNetwork(b.NetworkID!);
        const mac = this.macs.get(b.EndpointID!);
        if (!mac) return { Err: `endpoint ${b.EndpointID} is unknown to this agent` };
        const { srcName, gateway } = this.overlay.attach(networkId, b.EndpointID!, mac);
        return { InterfaceName: { SrcName: srcName, DstPrefix: 'eth' }, Gateway: gateway };
      }
      case '/NetworkDriver.DeleteEndpoint':
        this.macs.delete(b.EndpointID!);
        this.overlay.detach(this.networks.get(b.NetworkID!) ?? '', b.EndpointID!);
        return {};
      case '/NetworkDriver.Leave':
      case '/NetworkDriver.DiscoverNew':
      case '/NetworkDriver.DiscoverDelete':
      case '/NetworkDriver.ProgramExternalConnectivity':
      case '/NetworkDriver.RevokeExternalConnectivity':
        return {};
      default:
        return { Err: `unsupported call ${call}` };
    }
  }

  private orchNetwork(dockerNetworkId: string): string {
    const id = this.networks.get(dockerNetworkId);
    if (!id) throw new Error(`docker network ${dockerNetworkId} is not an orch network known to this agent`);
    return id;
  }
}
