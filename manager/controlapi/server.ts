// The control API the CLI calls. Every request is validated before anything is
// written; every write is one transaction with compares, so a rejected or
// conflicting request changes nothing.
import { serviceSummaries } from '../cluster.js';
import type { ServerWritableStream } from '@grpc/grpc-js';
import {
  NodeState,
  type ClusterEvent,
  type EventsRequest,
  ServiceSpec_Mode,
  type ControlServer,
  type Node,
  type ListServicesResponse,
  type ServiceSpec,
} from '../../proto/generated/orch.js';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../../shared/errors.js';
import { addrIp } from '../../shared/ipam.js';
import { ingressNetwork } from '../networks.js';
import type { Logger } from '../../shared/log.js';
import { MAX_REPLICAS } from '../../shared/spec.js';
import { readHistory } from '../orchestrator/index.js';
import { changeService, createService, removeService, rollbackTarget } from './services.js';
import { keys, readSettings, type Cache, type Store } from '../store/index.js';
import { storeAlarms } from '../store/members.js';
import { createNetwork, networkInfo, removeNetwork } from './networks.js';
import { resolveFile, resolveNode, resolveService } from './resolve.js';
import { createConfig, createSecret, removeFile } from './files.js';
import { listVolumes, removeVolume } from './volumes.js';
import { retryConflicts } from '../store/index.js';
import type { Caller, Gate } from '../ca/auth.js';
import { handler, streamHandler } from './handler.js';
import { serveLogs, type LogsDeps } from './logs.js';
import { updateSettings } from './settings.js';
import { managerAddrs } from '../ca/join.js';
import { joinRole, loadSecrets, rotateToken } from '../ca/secrets.js';
import { publicKeyOfCert, type Role } from '../../shared/tls/pki.js';
import type { Issue } from '../ca/issue.js';
import { caStatus, startRotation } from '../ca/rotation.js';

const CONTROL_ROLES: readonly Role[] = ['admin', 'manager'];

/** The manager serving the API: who it is, whether it leads, and its way to the leader (LogsDeps). */
export interface Me extends Pick<LogsDeps, 'leading' | 'leader'> {
  id: string;
  isLeader: () => boolean;
  /** Each manager's standing by node id: Leader, Reachable or Unreachable. */
  managerStatus: () => Promise<Record<string, string>>;
  /** Streams the cluster's events a call asks for (events/journal.ts). */
  events: (call: ServerWritableStream<EventsRequest, ClusterEvent>) => Promise<void>;
  /** Where it serves the dashboard, and its token. */
  dashboard: () => { url: string; token: string };
}


/** Builds the Control service implementation over the store and its mirror. */
export function controlServer(store: Store, cache: Cache, log: Logger, gate: Gate, clusterKey: Buffer, issue: Issue, me: Me): ControlServer {
  // Only admins and managers; read your writes: a reply leaves only once the
  // mirror, which every list and inspect reads, holds what this manager has committed.
  const authorize = (call: Caller) => gate.check(call, CONTROL_ROLES, 'the control API');
  const unary = handler(log, authorize, () => cache.waitFor(store.lastRevision));
  const stream = streamHandler(log, authorize);
  return {
    createService: unary(async (spec: ServiceSpec) => createService(store, cache, log, spec)),

    scaleService: unary(async (req) => {
      if (req.replicas > MAX_REPLICAS) throw new InvalidArgumentError(`${req.replicas} replicas is more than the ${MAX_REPLICAS} allowed`);
      return changeService(store, cache, log, {
        ref: req.ref,
        spec: (cur) => {
          if (cur.spec!.mode === ServiceSpec_Mode.GLOBAL) throw new InvalidArgumentError(`service "${cur.spec!.name}" is global: it runs one task per eligible node and cannot be scaled`);
          return { ...cur.spec!, replicas: req.replicas };
        },
      });
    }),

    updateService: unary(async (req) => {
      if (!req.spec) throw new InvalidArgumentError('an update carries the whole new spec');
      return changeService(store, cache, log, {
        ref: req.ref,
        version: req.version,
        rebalance: req.rebalance,
        spec: (cur) => {
          if (req.rebalance && cur.spec!.mode === ServiceSpec_Mode.GLOBAL) throw new InvalidArgumentError(`service "${cur.spec!.name}" is global: it has nothing to rebalance`);
          return req.spec!;
        },
      });
    }),

    rollbackService: unary(async (req) => {
      const cur = await resolveService(store, cache, req.ref);
      const target = await rollbackTarget(store, cur.value, req.toVersion);
      return changeService(store, cache, log, { ref: req.ref, version: req.version || cur.value.version, rollback: true, spec: () => target });
    }),

    serviceHistory: unary(async (req) => {
      const cur = await resolveService(store, cache, req.ref);
      return { revisions: await readHistory(store, cur.value.id) };
    }),

    getService: unary(async (req) => (await resolveService(store, cache, req.ref)).value),

    listServices: unary(async (): Promise<ListServicesResponse> => ({
      services: serviceSummaries(cache).sort((a, b) => a.service!.spec!.name.localeCompare(b.service!.spec!.name)),
    })),

    removeService: unary(async (req) => removeService(store, cache, log, req.ref)),

    listTasks: unary(async (req) => {
      const serviceId = req.service ? (await resolveService(store, cache, req.service)).value.id : undefined;
      const nodeId = req.node ? resolveNode(cache, req.node).id : undefined;
      const tasks = [...cache.tasks.values()]
        .map((v) => v.value)
        .filter((t) => (!serviceId || t.serviceId === serviceId) && (!nodeId || t.nodeId === nodeId))
        .sort((a, b) => a.serviceName.localeCompare(b.serviceName) || a.slot - b.slot || (b.createdAt?.getTime() ?? 0) - (a.createdAt?.getTime() ?? 0));
      return { tasks };
    }),

    listNodes: unary(async () => ({
      nodes: [...cache.nodes.values()].map((v) => v.value).sort((a, b) => (a.description?.hostname ?? '').localeCompare(b.description?.hostname ?? '')),
      // A full etcd freezes the cluster: say so where people look first.
      storeAlarms: await storeAlarms(store.etcd).catch(() => []),
      managerStatus: await me.managerStatus(),
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
        // Its pending volume removals go with it: nobody will answer them.
        txn.deletePrefix(`${keys.kindPrefix('volumeRemovals')}${cur.value.id}.`);
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

    listVolumes: unary(async () => listVolumes(cache)),
    removeVolume: unary(async (req) => removeVolume(store, cache, log, req)),
    createSecret: unary(async (spec) => createSecret(store, log, clusterKey, spec)),
    listSecrets: unary(async () => ({ secrets: [...cache.secrets.values()].map((v) => v.value).sort(byName) })),
    getSecret: unary(async (req) => (await resolveFile(store, cache, 'secrets', req.ref)).value),
    removeSecret: unary(async (req) => removeFile(store, cache, log, 'secrets', req.ref)),
    createConfig: unary(async (spec) => createConfig(store, log, spec)),
    listConfigs: unary(async () => ({ configs: [...cache.configs.values()].map((v) => v.value).sort(byName) })),
    getConfig: unary(async (req) => (await resolveFile(store, cache, 'configs', req.ref)).value),
    removeConfig: unary(async (req) => removeFile(store, cache, log, 'configs', req.ref)),

    getClusterSettings: unary(async () => (await readSettings(store)).settings),
    updateClusterSettings: unary(async (req) => updateSettings(store, log, req)),

    // The caller's own certificate, renewed for the key it called with (`orch context renew`).
    renewCertificate: unary(async (_req, { who, call }) => {
      const raw = call.getAuthContext().sslPeerCertificate?.raw;
      if (!raw) throw new InvalidArgumentError('no client certificate to renew');
      const c = await issue(who.nodeId, publicKeyOfCert(raw), who.role);
      log.info({ node: who.nodeId, role: who.role }, 'certificate renewed');
      return c;
    }),

    getCaStatus: unary(async () => caStatus(store, cache, clusterKey)),
    rotateCa: unary(async () => {
      await startRotation(store, clusterKey, log);
      return caStatus(store, cache, clusterKey);
    }),

    logs: stream(async (call) => serveLogs(call, { store, cache, leading: me.leading, leader: me.leader })),
    events: stream(async (call) => me.events(call)),
    getDashboard: unary(async () => me.dashboard()),
  };
}

const byName = (a: { spec?: { name: string } }, b: { spec?: { name: string } }) => (a.spec?.name ?? '').localeCompare(b.spec?.name ?? '');
