// The Docker Engine as the executor sees it: a thin, typed layer over
// dockerode with the pitfalls of DESIGN.md §9 handled here, once:
// pull() resolves before the pull ends (we follow the progress stream and scan
// it for in-band errors); event chunks may hold several or partial JSON lines;
// the events stream ends when dockerd restarts (we reconnect with `since`).
import { hostname as osHostname } from 'node:os';
import Docker from 'dockerode';
import { Mount_Type, PortConfig_Protocol, type HealthConfig, type Network, type NodeDescription, type PortConfig, type Resources, type Task } from '../../proto/generated/orch.js';
import { isIngress } from '../../shared/ingress.js';
import { addrIp } from '../../shared/ipam.js';
import { GATEWAY_OPTION, NETWORK_OPTION } from '../network/plugin.js';
import type { Logger } from '../../shared/log.js';
import { LABEL, type Owner } from './labels.js';
import { containerOptions, mountSource } from './container-config.js';
import { templateContext } from '../../shared/templates.js';
import type { TaskFiles } from './files.js';
import { NodeVolumes } from './volumes.js';

/** A container event the executor cares about. */
export interface EngineEvent {
  action: string;
  containerId: string;
  taskId: string | undefined;
}

export class PullError extends Error {}

/** Docker said an image or network a container needs is not there (404): one this engine had seen, removed since. */
export class MissingError extends Error {}

export class Engine {
  readonly docker: Docker;
  private readonly ensuring = new Map<string, Promise<string>>();
  /**
   * Images and Docker networks this engine was seen to have: a new task's
   * container is made without asking again (on a busy engine each question
   * takes tens of milliseconds on the way to a replacement's start).
   * Forgotten when a create finds one missing, and when a network is removed.
   */
  private readonly seen = new Set<string>();
  /** Called with a container's addresses on orch networks before it is stopped or removed (the agent refuses them from then on). */
  beforeStop: ((addrs: Array<{ networkId: string; ip: string }>) => Promise<void>) | undefined;
  /** This node's orch volumes. */
  readonly volumes: NodeVolumes;
  /** Containers announced as leaving and not yet removed. */
  private readonly left = new Set<string>();

  constructor(
    socketPath: string,
    private readonly owner: Owner,
    private readonly log: Logger,
    /** Where the tasks' secrets and configs are written (tmpfs). */
    readonly files: TaskFiles,
  ) {
    this.docker = new Docker({ socketPath });
    this.volumes = new NodeVolumes(this.docker, owner);
  }

  /** What this node has, as reported to the manager on register. */
  async describe(addr: string, hostname?: string, capacity?: Partial<Resources>): Promise<NodeDescription> {
    const info = await this.docker.info();
    return {
      hostname: hostname ?? osHostname(),
      os: String(info.OSType ?? 'linux'),
      arch: String(info.Architecture ?? process.arch),
      engineVersion: String(info.ServerVersion ?? ''),
      resources: {
        nanoCpus: capacity?.nanoCpus ?? BigInt(info.NCPU ?? 0) * 1_000_000_000n,
        memoryBytes: capacity?.memoryBytes ?? BigInt(info.MemTotal ?? 0),
        pids: 0n,
      },
      addr,
    };
  }

  /** Makes sure the image is present, pulling it with progress if not. */
  async ensureImage(image: string, onProgress: (text: string) => void): Promise<void> {
    if (this.seen.has(`image ${image}`)) return;
    try {
      await this.docker.getImage(image).inspect();
      this.seen.add(`image ${image}`);
      return;
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
    this.log.info({ image }, 'pulling image');
    const stream = await this.docker.pull(image).catch((err: Error) => {
      throw new PullError(`pulling ${image}: ${err.message.split('\n')[0]}`);
    });
    await new Promise<void>((resolve, reject) => {
      this.docker.modem.followProgress(
        stream,
        (err: Error | null, output: Array<{ error?: string }>) => {
          const inBand = output?.find((o) => o.error)?.error;
          if (err || inBand) reject(new PullError(`pulling ${image}: ${err?.message ?? inBand}`));
          else resolve(void this.seen.add(`image ${image}`));
        },
        (ev: { status?: string; progress?: string; id?: string }) => onProgress(`pulling ${image}: ${ev.status ?? ''}${ev.progress ? ` ${ev.progress}` : ''}`),
      );
    });
  }

  /**
   * Creates (not starts) the container of a task, labelled as ours. On orch
   * networks it joins each through its Docker network with the address orch
   * allocated; Docker asks our plugin for the interface when it starts it.
   */
  async create(task: Task, networks: Array<{ dockerName: string; network: Network }> = []): Promise<string> {
    const spec = task.spec!;
    const addr = (n: Network) => addrIp(task.networks.find((a) => a.networkId === n.id)!.addr);
    const [first, ...rest] = networks;
    const dockerMaps = first ? [] : task.hostPorts;
    const ctx = templateContext(task, { id: task.nodeId, hostname: this.owner.hostname });
    for (const m of spec.mounts) if (m.type === Mount_Type.VOLUME) await this.volumes.ensure(mountSource(m, ctx), task, m.volumeOptions?.labels ?? {});
    const options = containerOptions(spec, ctx);
    const fileMounts = this.files.prepare(task);
    const c = await this.docker
      .createContainer({
        ...options,
        name: `${task.serviceName}.${task.slot}.${task.id}`,
        Image: spec.image,
        Cmd: spec.command.length ? spec.command : undefined,
        Env: spec.env,
        Labels: {
          ...spec.labels,
          [LABEL.cluster]: this.owner.cluster,
          [LABEL.node]: this.owner.node,
          [LABEL.task]: task.id,
          [LABEL.service]: task.serviceId,
          [LABEL.serviceName]: task.serviceName,
          [LABEL.slot]: String(task.slot),
        },
        Healthcheck: spec.healthcheck ? healthcheck(spec.healthcheck) : undefined,
        HostConfig: {
          ...options.HostConfig,
          Mounts: [...(options.HostConfig?.Mounts ?? []), ...fileMounts] as Docker.MountConfig,
          NetworkMode: first?.dockerName,
          // orch's resolver for service names listens on a network's gateway; Docker's embedded one forwards to it.
          // Not ingress's, which knows no names: ingress may come first only to carry the default route.
          Dns: first ? [(networks.find((n) => !isIngress(n.network)) ?? first).network.gateway] : undefined,
          // Host-mode published ports of a container on Docker's bridge: Docker maps them on this host only (on orch networks the agent's rules do).
          PortBindings: dockerMaps.length ? Object.fromEntries(dockerMaps.map((p) => [portName(p), [{ HostPort: String(p.publishedPort) }]])) : undefined,
        },
        ExposedPorts: dockerMaps.length ? Object.fromEntries(dockerMaps.map((p) => [portName(p), {}])) : undefined,
        NetworkingConfig: first ? { EndpointsConfig: { [first.dockerName]: { IPAMConfig: { IPv4Address: addr(first.network) }, DriverOpts: { [GATEWAY_OPTION]: '1' } } } } : undefined,
      })
      .catch((err) => this.missing(err));
    if (spec.mounts.some((m) => m.type === Mount_Type.VOLUME)) this.volumes.changed?.();
    // The first network carries the default route; Docker would pick by network name, so the others give no gateway.
    for (const n of rest) {
      await this.docker
        .getNetwork(n.dockerName)
        .connect({ Container: c.id, EndpointConfig: { IPAMConfig: { IPv4Address: addr(n.network) }, DriverOpts: { [GATEWAY_OPTION]: '0' } } })
        .catch(async (err) => {
          await c.remove({ force: true }).catch(() => undefined); // half made: the next attempt makes it again
          return this.missing(err);
        });
    }
    return c.id;
  }

  /** Rethrows an engine error; a 404 (an image or network seen here is gone) as a MissingError, and forgets what was seen. */
  private missing(err: unknown): never {
    if (statusOf(err) !== 404) throw err;
    this.seen.clear();
    throw new MissingError((err as Error).message);
  }

  /**
   * Makes sure this engine has the Docker network that stands for an orch
   * network (driver: our plugin; Docker's IPAM with the orch subnet, so a
   * container can ask for its orch address). Returns its name.
   */
  ensureNetwork(network: Network, driver: string): Promise<string> {
    const name = `orch-${network.id}`;
    if (this.seen.has(`network ${name}`)) return Promise.resolve(name);
    // One at a time per network: two containers starting together must not both create it.
    const pending = this.ensuring.get(network.id);
    if (pending) return pending;
    const p = this.createNetworkOnce(network, driver)
      .then((made) => (this.seen.add(`network ${made}`), made))
      .finally(() => this.ensuring.delete(network.id));
    this.ensuring.set(network.id, p);
    return p;
  }

  private async createNetworkOnce(network: Network, driver: string): Promise<string> {
    const name = `orch-${network.id}`;
    const found = await this.docker.listNetworks({ filters: { name: [name] } });
    if (found.some((n) => n.Name === name)) return name;
    try {
      await this.docker.createNetwork({
        Name: name,
        Driver: driver,
        CheckDuplicate: true,
        IPAM: { Driver: 'default', Config: [{ Subnet: network.subnet, Gateway: network.gateway }] },
        Options: { [NETWORK_OPTION]: network.id },
        Labels: { [LABEL.cluster]: this.owner.cluster, [LABEL.node]: this.owner.node, [LABEL.network]: network.id },
      });
      this.log.info({ network: network.spec?.name, docker: name }, 'docker network created');
    } catch (err) {
      if (statusOf(err) !== 409) throw err; // made meanwhile: fine
    }
    return name;
  }

  /**
   * Containers of this cluster that an earlier node on this host left (a
   * reset, a re-join under a new node id): container id → that node's id.
   */
  async listPredecessors(): Promise<Map<string, string>> {
    const list = await this.docker.listContainers({ all: true, filters: { label: [`${LABEL.cluster}=${this.owner.cluster}`] } });
    return new Map(list.filter((c) => c.Labels[LABEL.node] && c.Labels[LABEL.node] !== this.owner.node).map((c) => [c.Id, c.Labels[LABEL.node]!]));
  }

  /** Docker networks an orch agent made on this engine that are not this node's: Docker id → their driver. */
  async listForeignNetworks(): Promise<Map<string, string>> {
    const list = await this.docker.listNetworks({ filters: { label: [LABEL.network] } });
    return new Map(list.filter((n) => n.Labels?.[LABEL.node] !== this.owner.node).map((n) => [n.Id, n.Driver]));
  }

  /** Removes a Docker network; one gone already is fine, one still in use is left (false). */
  async removeNetwork(id: string): Promise<boolean> {
    this.seen.clear();
    try {
      await this.docker.getNetwork(id).remove();
      return true;
    } catch (err) {
      const code = statusOf(err);
      if (code === 404) return true;
      if (code === 403) return false;
      throw err;
    }
  }

  /** Our containers attached to our Docker networks (they cannot outlive those networks). */
  async listAttached(): Promise<string[]> {
    const out = new Set<string>();
    for (const id of (await this.listNetworks()).keys()) {
      const info = await this.docker.getNetwork(id).inspect().catch(() => undefined);
      for (const c of Object.keys((info?.Containers ?? {}) as Record<string, unknown>)) out.add(c);
    }
    const managed = new Set((await this.listManaged()).values());
    return [...out].filter((c) => managed.has(c));
  }

  /** Our Docker networks on this engine: Docker id → orch network id. */
  async listNetworks(): Promise<Map<string, string>> {
    const list = await this.docker.listNetworks({ filters: { label: [`${LABEL.node}=${this.owner.node}`] } });
    return new Map(list.filter((n) => n.Labels?.[LABEL.network]).map((n) => [n.Id, n.Labels![LABEL.network]!]));
  }

  /** Removes our Docker networks whose orch network is not in `keep` (one still in use stays, until next time). */
  async removeNetworksExcept(keep: ReadonlySet<string>): Promise<void> {
    for (const [dockerId, orchId] of await this.listNetworks()) if (!keep.has(orchId)) await this.removeNetwork(dockerId);
  }

  /** Starts; one already running is fine (304). A network it was made on that is gone: MissingError. */
  async start(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).start();
    } catch (err) {
      if (statusOf(err) !== 304) this.missing(err);
    }
  }

  /** Inspects; undefined if the container no longer exists. */
  async inspect(id: string): Promise<Docker.ContainerInspectInfo | undefined> {
    try {
      return await this.docker.getContainer(id).inspect();
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  /** A container's addresses on orch networks. */
  private async orchAddresses(id: string): Promise<Array<{ networkId: string; ip: string }>> {
    const info = await this.inspect(id);
    if (!info) return [];
    const ours = await this.listNetworks();
    return Object.values(info.NetworkSettings.Networks ?? {})
      .filter((n) => ours.has(n.NetworkID) && n.IPAddress)
      .map((n) => ({ networkId: ours.get(n.NetworkID)!, ip: n.IPAddress }));
  }

  /** Announces a container as leaving, once: a task's container is stopped, then removed. */
  private async leaving(id: string): Promise<void> {
    if (!this.beforeStop || this.left.has(id)) return;
    await this.beforeStop(await this.orchAddresses(id));
    this.left.add(id);
  }

  /** Stops with a grace period; a container already stopped or gone is fine. */
  async stop(id: string, graceMs: number): Promise<void> {
    await this.leaving(id);
    try {
      await this.docker.getContainer(id).stop({ t: Math.ceil(graceMs / 1000) });
    } catch (err) {
      const code = statusOf(err);
      if (code !== 304 && code !== 404) throw err;
    }
  }

  /** Removes (forcibly); a container already gone is fine. */
  async remove(id: string): Promise<void> {
    await this.leaving(id);
    try {
      await this.docker.getContainer(id).remove({ force: true, v: true });
    } catch (err) {
      const code = statusOf(err);
      if (code !== 404 && code !== 409) throw err; // 409: removal already in progress
    }
    this.left.delete(id);
    this.volumes.changed?.();
  }

  /** Our containers on this engine: task id → container id. */
  async listManaged(): Promise<Map<string, string>> {
    const list = await this.docker.listContainers({
      all: true,
      filters: { label: [`${LABEL.cluster}=${this.owner.cluster}`, `${LABEL.node}=${this.owner.node}`] },
    });
    const out = new Map<string, string>();
    for (const c of list) {
      const task = c.Labels[LABEL.task];
      if (task) out.set(task, c.Id);
    }
    return out;
  }

  /**
   * Follows container events for our containers until `signal` aborts,
   * reconnecting (bounded backoff) with `since` when the stream ends.
   * `onGap` is called after every reconnect: events may have been missed.
   */
  async followEvents(onEvent: (ev: EngineEvent) => void, onGap: () => void, signal: AbortSignal): Promise<void> {
    let since = Math.floor(Date.now() / 1000);
    let backoff = 100;
    while (!signal.aborted) {
      try {
        const stream = (await this.docker.getEvents({
          since,
          filters: { type: ['container'], label: [`${LABEL.node}=${this.owner.node}`] },
        })) as NodeJS.ReadableStream & { destroy(): void };
        backoff = 100;
        await new Promise<void>((resolve) => {
          let buf = '';
          const abort = () => stream.destroy();
          signal.addEventListener('abort', abort, { once: true });
          stream.on('data', (chunk: Buffer) => {
            buf += chunk.toString();
            let nl: number;
            while ((nl = buf.indexOf('\n')) >= 0) {
              const line = buf.slice(0, nl).trim();
              buf = buf.slice(nl + 1);
              if (!line) continue;
              try {
                const ev = JSON.parse(line) as { Action?: string; id?: string; time?: number; Actor?: { Attributes?: Record<string, string> } };
                if (ev.time) since = ev.time;
                onEvent({ action: ev.Action ?? '', containerId: ev.id ?? '', taskId: ev.Actor?.Attributes?.[LABEL.task] });
              } catch {
                this.log.warn({ line: line.slice(0, 200) }, 'undecodable docker event');
              }
            }
          });
          const done = () => {
            signal.removeEventListener('abort', abort);
            resolve();
          };
          stream.on('end', done);
          stream.on('error', done);
          stream.on('close', done);
        });
      } catch (err) {
        this.log.warn({ err: String(err) }, 'docker events unavailable; retrying');
      }
      if (signal.aborted) return;
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 2000);
      onGap();
    }
  }
}

/** Docker's healthcheck object (durations in nanoseconds; 0 = the engine's default). */
function healthcheck(h: HealthConfig): Docker.ContainerCreateOptions['Healthcheck'] {
  const ns = (ms: number) => ms * 1_000_000;
  return { Test: h.test, Interval: ns(h.intervalMs), Timeout: ns(h.timeoutMs), Retries: h.retries, StartPeriod: ns(h.startPeriodMs) };
}

/** Docker's name of a container port: "80/tcp". */
function portName(p: PortConfig): string {
  return `${p.targetPort}/${p.protocol === PortConfig_Protocol.UDP ? 'udp' : 'tcp'}`;
}

/** The HTTP status of an Engine API error (dockerode's `statusCode`), if it has one. */
function statusOf(err: unknown): number | undefined {
  return (err as { statusCode?: number }).statusCode;
}
