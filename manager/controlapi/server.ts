// The control API the CLI calls. Every request is validated before anything is
// written; every write is one transaction with compares, so a rejected or
// conflicting request changes nothing.
import {
  NodeState,
  ServiceSpec_Mode,
  TaskState,
  type ControlServer,
  type Node,
  type ListServicesResponse,
  type Service,
  type ServiceSpec,
  type PortConfig,
  type UpdateServiceRequest,
} from '../../proto/generated/orch.js';
import { AlreadyExistsError, ConflictError, FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../../shared/errors.js';
import { newId } from '../../shared/ids.js';
import { addrIp } from '../../shared/ipam.js';
import { ingressNetwork } from '../networks.js';
import type { Logger } from '../../shared/log.js';
import { MAX_REPLICAS, validateServiceSpec } from '../../shared/spec.js';
import { DEFAULT_RESTART } from '../orchestrator/index.js';
import { keys, type Cache, type Store } from '../store/index.js';
import { storeAlarms } from '../store/members.js';
import { createNetwork, networkInfo, removeNetwork } from './networks.js';
import { resolveNetwork, resolveNode, resolveService } from './resolve.js';
import { retryConflicts } from './retry.js';
import type { Gate } from '../ca/auth.js';
import { handler } from './handler.js';
import { managerAddrs } from '../ca/join.js';
import { joinRole, loadSecrets, rotateToken } from '../ca/secrets.js';
import type { Role } from '../../shared/tls/pki.js';

const CONTROL_ROLES: readonly Role[] = ['admin', 'manager'];


/** Builds the Control service implementation over the store and its mirror. */
export function controlServer(store: Store, cache: Cache, log: Logger, gate: Gate, clusterKey: Buffer, me: { id: string; isLeader: () => boolean }): ControlServer {
  // Only admins and managers; read your writes: a reply leaves only once the
  // mirror, which every list and inspect reads, holds what this manager has committed.
  const unary = handler(log, (call) => gate.check(call, CONTROL_ROLES, 'the control API'), () => cache.waitFor(store.lastRevision));
  return {
    createService: unary(async (spec: ServiceSpec) => {
      const full: ServiceSpec = { ...spec, restart: spec.restart ?? DEFAULT_RESTART };
      validateServiceSpec(full);
      const now = new Date();
      const service: Service = { id: newId(), spec: full, createdAt: now, updatedAt: now, rebalanceRequested: 0n, rebalanceDone: 0n, vips: [] };
      await retryConflicts(async () => {
        // Fresh reads first: they fail fast when etcd is unreachable, before any write is sent.
        if (await store.getRaw(keys.serviceName(full.name))) throw exists(full.name);
        // Networks by name or id → ids. Each is rewritten in the same txn, so a
        // concurrent `network rm` (which compares it) cannot succeed meanwhile.
        const networks = await Promise.all([...new Set(spec.networks)].map((ref) => resolveNetwork(store, cache, ref)));
        full.networks = [...new Set(networks.map((n) => n.value.id))];
        // Published ports: unique in the cluster, each a compare-and-put.
        const ports = await claimPorts(store, full.endpoint?.ports ?? []);
        full.endpoint = { mode: full.endpoint?.mode ?? 0, ports };
        const txn = store.txn().expectKey(keys.serviceName(full.name), 0).putKey(keys.serviceName(full.name), service.id).expect('services', service.id, 0).put('services', service.id, service);
        for (const n of networks) txn.expect('networks', n.value.id, n.modRevision).put('networks', n.value.id, n.value);
        for (const p of ports) txn.expectKey(portKey(p), 0).putKey(portKey(p), service.id);
        try {
          await txn.commit();
        } catch (err) {
          // Taken between our read and our write: say which, unless it was the name.
          if (err instanceof ConflictError) for (const p of ports) if (await store.getRaw(portKey(p))) throw portTaken(p);
          throw err;
        }
      });
      log.info({ service: service.id, name: full.name, replicas: full.replicas }, 'service created');
      return service;
    }),

    scaleService: unary(async (req) => updateService(store, cache, log, { ref: req.ref, replicas: req.replicas, rebalance: false })),

    updateService: unary(async (req) => updateService(store, cache, log, req)),

    getService: unary(async (req) => (await resolveService(store, cache, req.ref)).value),

    listServices: unary(async (): Promise<ListServicesResponse> => {
      const running = new Map<string, number>();
      for (const { value: t } of cache.tasks.values()) {
        if (t.desiredState === TaskState.RUNNING && t.status?.state === TaskState.RUNNING) running.set(t.serviceId, (running.get(t.serviceId) ?? 0) + 1);
      }
      const services = [...cache.services.values()]
        .map(({ value: s }) => ({ service: s, running: running.get(s.id) ?? 0, desired: desired(cache, s) }))
        .sort((a, b) => a.service.spec!.name.localeCompare(b.service.spec!.name));
      return { services };
    }),

    removeService: unary(async (req) =>
      retryConflicts(async () => {
        const cur = await resolveService(store, cache, req.ref);
        const txn = store.txn().expect('services', cur.value.id, cur.modRevision).delete('services', cur.value.id).deleteKey(keys.serviceName(cur.value.spec!.name));
        // Its published ports and virtual IPs are free again.
        for (const p of cur.value.spec?.endpoint?.ports ?? []) txn.deleteKey(portKey(p));
        for (const v of cur.value.vips) txn.deleteKey(keys.ipam(v.networkId, addrIp(v.addr)));
        await txn.commit();
        log.info({ service: cur.value.id }, 'service removed');
        return { id: cur.value.id };
      }),
    ),

    listTasks: unary(async (req) => {
      const serviceId = req.service ? (await resolveService(store, cache, req.service)).value.id : undefined;
      const tasks = [...cache.tasks.values()]
        .map((v) => v.value)
        .filter((t) => !serviceId || t.serviceId === serviceId)
        .sort((a, b) => a.serviceName.localeCompare(b.serviceName) || a.slot - b.slot || (b.createdAt?.getTime() ?? 0) - (a.createdAt?.getTime() ?? 0));
      return { tasks };
    }),

    listNodes: unary(async () => ({
      nodes: [...cache.nodes.values()].map((v) => v.value).sort((a, b) => (a.description?.hostname ?? '').localeCompare(b.description?.hostname ?? '')),
      // A full etcd freezes the cluster: say so where people look first.
      storeAlarms: await storeAlarms(store.etcd).catch(() => []),
    })),

    getNode: unary(async (req) => resolveNode(cache, req.ref)),

    createNetwork: unary(async (spec) => createNetwork(store, log, spec)),

    listNetworks: unary(async () => ({
      networks: [...cache.networks.values()].map((v) => v.value).sort((a, b) => a.spec!.name.localeCompare(b.spec!.name)),
    })),

    getNetwork: unary(async (req) => networkInfo(store, cache, req.ref)),

    removeNetwork: unary(async (req) => removeNetwork(store, cache, log, req.ref)),

    updateNode: unary(async (req) => {
      for (const k of Object.keys(req.labelAdd)) if (!k) throw new InvalidArgumentError('--label-add needs a key: KEY=VALUE or KEY');
      return retryConflicts(async () => {
        const cur = await store.get('nodes', resolveNode(cache, req.ref).id);
        if (!cur) throw new NotFoundError(`node "${req.ref}" not found; \`orch node ls\` lists the nodes`);
        const labels = { ...cur.value.labels, ...req.labelAdd };
        for (const k of req.labelRm) {
          if (!(k in labels)) throw new InvalidArgumentError(`node has no label "${k}"; \`orch node inspect ${req.ref}\` shows its labels`);
          delete labels[k];
        }
        const next: Node = { ...cur.value, labels, availability: req.availability ?? cur.value.availability, updatedAt: new Date() };
        const txn = store.txn().expect('nodes', next.id, cur.modRevision);
        if (req.role !== undefined) {
          next.desiredRole = joinRole(req.role);
          if (next.desiredRole === 'worker') {
            // Never the last manager; the others are compared, so two demotes cannot both pass.
            const others = [...cache.nodes.values()].filter(({ value: n }) => n.id !== next.id && (n.desiredRole || n.role) === 'manager');
            if (others.length === 0) throw new FailedPreconditionError(`node "${req.ref}" is the last manager: promote another node first`);
            for (const o of others) txn.expect('nodes', o.value.id, o.modRevision);
          }
        }
        await txn.put('nodes', next.id, next).commit();
        log.info({ node: next.id, availability: next.availability, labels, desiredRole: next.desiredRole }, 'node updated');
        return next;
      });
    }),

    removeNode: unary(async (req) =>
      retryConflicts(async () => {
        const cur = await store.get('nodes', resolveNode(cache, req.ref).id);
        if (!cur) throw new NotFoundError(`node "${req.ref}" not found; \`orch node ls\` lists the nodes`);
        if (cur.value.state === NodeState.NODE_READY && !req.force) {
          throw new FailedPreconditionError(`node "${req.ref}" is up: drain it and stop its agent first, or use --force to remove it anyway`);
        }
        // Revoked in the same transaction: from this revision on, its certificate opens nothing.
        const txn = store
          .txn()
          .expect('nodes', cur.value.id, cur.modRevision)
          .delete('nodes', cur.value.id)
          .putKey(keys.revoked(cur.value.id), JSON.stringify({ removedAt: new Date().toISOString() }));
        const ingress = ingressNetwork(cache);
        if (ingress && cur.value.ingressAddr) txn.deleteKey(keys.ipam(ingress.id, addrIp(cur.value.ingressAddr)));
        await txn.commit();
        log.info({ node: cur.value.id, force: req.force }, 'node removed');
        return { id: cur.value.id };
      }),
    ),

    ping: unary(async () => ({ managerId: me.id, leader: me.isLeader() })),

    getJoinToken: unary(async (req) => {
      const role = joinRole(req.role);
      const secrets = req.rotate ? await rotateToken(store, clusterKey, role) : (await loadSecrets(store, clusterKey)).secrets;
      if (req.rotate) log.info({ role }, 'join token rotated');
      return { token: secrets.tokens[role], managers: await managerAddrs(store) };
    }),
  };
}

/** Applies an UpdateServiceRequest (scale is one) in one compare-and-put. */
function updateService(store: Store, cache: Cache, log: Logger, req: UpdateServiceRequest): Promise<Service> {
  if (req.replicas !== undefined && req.replicas > MAX_REPLICAS) throw new InvalidArgumentError(`${req.replicas} replicas is more than the ${MAX_REPLICAS} allowed`);
  return retryConflicts(async () => {
    const cur = await resolveService(store, cache, req.ref);
    const spec = { ...cur.value.spec! };
    if (req.replicas !== undefined) {
      if (spec.mode === ServiceSpec_Mode.GLOBAL) throw new InvalidArgumentError(`service "${spec.name}" is global: it runs one task per eligible node and cannot be scaled`);
      spec.replicas = req.replicas;
    }
    if (req.autoRebalance !== undefined) spec.autoRebalance = req.autoRebalance;
    if (req.rebalance && spec.mode === ServiceSpec_Mode.GLOBAL) throw new InvalidArgumentError(`service "${spec.name}" is global: it has nothing to rebalance`);
    const next: Service = {
      ...cur.value,
      spec,
      rebalanceRequested: req.rebalance ? cur.value.rebalanceRequested + 1n : cur.value.rebalanceRequested,
      updatedAt: new Date(),
    };
    await store.txn().expect('services', next.id, cur.modRevision).put('services', next.id, next).commit();
    log.info({ service: next.id, replicas: spec.replicas, rebalance: req.rebalance }, 'service updated');
    return next;
  });
}


const PROTOCOLS = ['tcp', 'udp'];
/** Where a port asked for without a published number comes from (Swarm's range). */
const AUTO_PORTS = { first: 30000, last: 32767 };

const portKey = (p: PortConfig) => keys.port(PROTOCOLS[p.protocol]!, p.publishedPort);
const portTaken = (p: PortConfig) =>
  new AlreadyExistsError(`port ${p.publishedPort}/${PROTOCOLS[p.protocol]} is already published by another service; pick another published port`);

/** Gives ports without a published number one from the auto range, and checks that none is taken (fresh reads). */
async function claimPorts(store: Store, ports: PortConfig[]): Promise<PortConfig[]> {
  const out: PortConfig[] = [];
  for (const p of ports) {
    if (p.publishedPort) {
      if (await store.getRaw(portKey(p))) throw portTaken(p);
      out.push(p);
      continue;
    }
    let port = AUTO_PORTS.first;
    while (port <= AUTO_PORTS.last && ((await store.getRaw(keys.port(PROTOCOLS[p.protocol]!, port))) || out.some((q) => q.protocol === p.protocol && q.publishedPort === port))) port++;
    if (port > AUTO_PORTS.last) throw new FailedPreconditionError(`no free port left in ${AUTO_PORTS.first}-${AUTO_PORTS.last}; give published=PORT`);
    out.push({ ...p, publishedPort: port });
  }
  return out;
}

/** How many tasks a service wants: its replicas, or for a global service its slots (one per eligible node). */
function desired(cache: Cache, s: Service): number {
  if (s.spec?.mode !== ServiceSpec_Mode.GLOBAL) return s.spec?.replicas ?? 0;
  const nodes = new Set<string>();
  for (const { value: t } of cache.tasks.values()) if (t.serviceId === s.id && t.desiredState === TaskState.RUNNING) nodes.add(t.targetNode);
  return nodes.size;
}

function exists(name: string): AlreadyExistsError {
  return new AlreadyExistsError(`service "${name}" already exists; pick another --name or \`orch service rm ${name}\` first`);
}
