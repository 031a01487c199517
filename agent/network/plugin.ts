// The agent as a Docker network plugin (libnetwork's remote driver API: JSON
// over HTTP on a unix socket in /run/docker/plugins). Docker calls it while
// it starts a container, so the container has its interface, address and
// routes before its process starts (ADR 0007):
//   CreateEndpoint → we name the MAC (derived from the address Docker's IPAM
//                    gave from the address orch allocated);
//   Join           → a veth pair whose inner end is on the network's bridge;
//                    Docker moves the other end in, names it eth*, sets the
//                    address and, on the container's first network only,
//                    the default route through the gateway;
//   DeleteEndpoint → the veth goes.
// The driver's name is per host (`orch-<host key>`, see host.ts): the lab's
// engines share one plugin directory, and an agent that starts on a host
// with a new node id answers for the Docker networks its predecessor made.
// While it removes leftovers of an older naming it also answers under their
// driver's name, so Docker never waits on a plugin that is gone.
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { addrIp, macFor } from '../../shared/ipam.js';
import type { Logger } from '../../shared/log.js';
import type { Overlay } from './overlay.js';

export const PLUGIN_DIR = '/run/docker/plugins';
/** The `--opt` on a Docker network that names the orch network behind it. */
export const NETWORK_OPTION = 'orch.network';
/**
 * The endpoint option that says whether a container's default route goes
 * through this network ('1') or not ('0'): Docker takes the gateway of the
 * first network by name that offers one, so only the chosen one offers it.
 * Containers made before it offer a gateway on every network, as before.
 */
export const GATEWAY_OPTION = 'orch.gateway';
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
  /** Docker endpoint id → its MAC, address and whether it gives the default route. */
  private readonly endpoints = new Map<string, { mac: string; ip: string; gateway: boolean }>();

  constructor(
    hostKey: string,
    private readonly overlay: Overlay,
    private readonly log: Logger,
  ) {
    this.driver = `orch-${hostKey}`;
    this.socket = socketOf(this.driver);
  }

  /** Listens on the plugin socket (replacing one left by a previous run). */
  async start(): Promise<void> {
    this.server = await this.listen(this.socket);
    this.log.info({ socket: this.socket }, 'docker network plugin listening');
  }

  /**
   * Also answers as `driver` (a leftover network's), unless a live plugin
   * holds that name; the returned function stops answering.
   */
  async answerAs(driver: string): Promise<() => Promise<void>> {
    const socket = socketOf(driver);
    if (driver === this.driver || (await answers(socket))) return async () => undefined;
    const server = await this.listen(socket);
    return () => close(server, socket);
  }

  async stop(): Promise<void> {
    if (this.server) await close(this.server, this.socket);
  }

  /** Removes sockets of orch drivers that nothing answers on (left by agents that died); a live agent's always answers. */
  async removeDeadSockets(): Promise<void> {
    for (const f of readdirSync(PLUGIN_DIR).filter((x) => x.startsWith('orch-') && x.endsWith('.sock'))) {
      const socket = join(PLUGIN_DIR, f);
      if (socket !== this.socket && !(await answers(socket))) {
        rmSync(socket, { force: true });
        this.log.info({ socket }, 'removed a plugin socket an agent that is gone left');
      }
    }
  }

  private async listen(socket: string): Promise<Server> {
    mkdirSync(PLUGIN_DIR, { recursive: true });
    rmSync(socket, { force: true });
    const server = createServer((req, res) => {
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
    // Docker keeps one connection and reuses it after any pause; if Node closes it idle (after 5 s by default) just
    // as Docker sends, Docker sends the call again a second later, with its body already spent: an empty request.
    // So the plugin never closes an idle connection; Docker does, and stop() ends them all.
    server.keepAliveTimeout = 0;
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(socket, resolve));
    return server;
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
        if (!addr) {
          // The agent names an address for every endpoint: a call without one is not Docker's first (see listen()), so say what came.
          this.log.warn({ network: b.NetworkID, endpoint: b.EndpointID, request: b }, 'docker asked for an endpoint without an address');
          return { Err: 'an orch endpoint needs an address' };
        }
        const given = b.Interface?.MacAddress;
        const mac = given || macFor(addrIp(addr));
        this.endpoints.set(b.EndpointID!, { mac, ip: addrIp(addr), gateway: b.Options?.[GATEWAY_OPTION] !== '0' });
        return { Interface: given ? {} : { MacAddress: mac } };
      }
      case '/NetworkDriver.EndpointOperInfo':
        return { Value: {} };
      case '/NetworkDriver.Join': {
        const networkId = this.orchNetwork(b.NetworkID!);
        const ep = this.endpoints.get(b.EndpointID!);
        if (!ep) return { Err: `endpoint ${b.EndpointID} is unknown to this agent` };
        const { srcName, gateway } = this.overlay.attach(networkId, b.EndpointID!, ep.mac, ep.ip);
        return { InterfaceName: { SrcName: srcName, DstPrefix: 'eth' }, ...(ep.gateway ? { Gateway: gateway } : {}) };
      }
      case '/NetworkDriver.DeleteEndpoint':
        this.overlay.detach(this.networks.get(b.NetworkID!) ?? '', b.EndpointID!, this.endpoints.get(b.EndpointID!)?.ip);
        this.endpoints.delete(b.EndpointID!);
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

const socketOf = (driver: string) => join(PLUGIN_DIR, `${driver}.sock`);

/** Stops a server, ending Docker's kept-alive connections too (close() alone waits for them). */
function close(server: Server, socket: string): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => {
      rmSync(socket, { force: true });
      resolve();
    });
    server.closeAllConnections();
  });
}

/** Whether something listens on a unix socket (a file left by a dead process does not). */
function answers(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(socket);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}
