// Service requests that write: create, update (the whole spec, from the
// version the caller read), rollback and remove. Every one is a single
// transaction: the service, its name, its published ports (claimed only if
// free, freed when dropped), the networks it joins (compared, so a
// concurrent `network rm` fails) and its spec history move together, so a
// refused request changes nothing.
import { ServiceSpec, UpdateStatus_State, type Network, type PortConfig, type Service, type UpdateStatus } from '../../proto/generated/orch.js';
import { AlreadyExistsError, ConflictError, FailedPreconditionError, InvalidArgumentError, NotFoundError, StaleVersionError } from '../../shared/errors.js';
import { newId } from '../../shared/ids.js';
import { addrIp } from '../../shared/ipam.js';
import type { Logger } from '../../shared/log.js';
import { portName } from '../../shared/ports.js';
import { validateServiceSpec, withDefaults } from '../../shared/spec.js';
import { isDeepStrictEqual } from 'node:util';
import { REVISIONS_KEPT, readHistory, revisionKeys, sameTemplate, serviceTemplate } from '../orchestrator/index.js';
import { keys, portKey, type Cache, type Store, type Versioned } from '../store/index.js';
import { resolveNetwork, resolveService } from './resolve.js';
import { retryConflicts } from '../store/index.js';
import { checkPrivileges } from './settings.js';
import { resolveFiles, type ReadObject } from './files.js';

/** Where a port asked for without a published number comes from (Swarm's range). */
const AUTO_PORTS = { first: 30000, last: 32767 };

/** Creates a service at version 1. */
export async function createService(store: Store, cache: Cache, log: Logger, spec: ServiceSpec): Promise<Service> {
  const full = withDefaults(spec);
  validateServiceSpec(full);
  const now = new Date();
  const service: Service = {
    id: newId(), spec: full, createdAt: now, updatedAt: now, rebalanceRequested: 0n, rebalanceDone: 0n, vips: [], version: 1n, previousSpec: undefined, updateStatus: undefined,
  };
  await retryConflicts(async () => {
    // Fresh reads first: they fail fast when etcd is unreachable, before any write is sent.
    if (await store.getRaw(keys.serviceName(full.name))) throw exists(full.name);
    await write(store, cache, service, undefined, [], await resolveRefs(store, cache, full));
  });
  log.info({ service: service.id, name: full.name, replicas: full.replicas }, 'service created');
  return service;
}

/** How a new spec reaches a service: a user's update, a scale, a rollback. */
export interface SpecChange {
  ref: string;
  /** The version the caller read; undefined: whatever is current (a server-side read-modify-write). */
  version?: bigint;
  /** The new spec from the current one. */
  spec: (cur: Service) => ServiceSpec;
  rollback?: boolean;
  rebalance?: boolean;
}

/**
 * Writes a new version of a service's spec. A change of the task template
 * starts a rollout; an unchanged spec writes nothing (unless a rebalance is
 * asked for). Refused, with nothing written, if the service moved past
 * the version the caller read.
 */
export function changeService(store: Store, cache: Cache, log: Logger, change: SpecChange): Promise<Service> {
  return retryConflicts(async () => {
    const cur = await resolveService(store, cache, change.ref);
    const name = cur.value.spec!.name;
    if (change.version !== undefined && change.version !== cur.value.version) {
      throw new StaleVersionError(`service ${name} was changed by someone else (version ${cur.value.version}, you read ${change.version}); run the command again`);
    }
    const spec = withDefaults(change.spec(cur.value));
    if (spec.name !== name) throw new InvalidArgumentError(`a service cannot be renamed (from "${name}" to "${spec.name}"); create a new one`);
    if (spec.mode !== cur.value.spec!.mode) throw new InvalidArgumentError(`service "${name}": the mode cannot be changed; create a new service`);
    validateServiceSpec(spec);
    // Names resolved first: a spec that names what the current one holds by id is the same spec.
    const refs = await resolveRefs(store, cache, spec);
    const sameSpec = isDeepStrictEqual(specJson(spec), specJson(cur.value.spec!));
    if (sameSpec && !change.rebalance && !change.rollback) return cur.value;
    const now = new Date();
    const next: Service = {
      ...cur.value,
      spec,
      updatedAt: now,
      rebalanceRequested: cur.value.rebalanceRequested + (change.rebalance ? 1n : 0n),
    };
    if (!sameSpec || change.rollback) {
      next.version = cur.value.version + 1n;
      next.previousSpec = cur.value.spec;
      next.updateStatus = rolloutStatus(cache, cur.value, next, change.rollback ?? false, now);
    }
    const written = await write(store, cache, next, cur, cur.value.spec?.endpoint?.ports ?? [], refs);
    log.info({ service: next.id, version: String(next.version), rollout: next.updateStatus?.state, rebalance: change.rebalance }, change.rollback ? 'service rolled back' : 'service updated');
    return written;
  });
}

/** The spec a rollback goes to: the previous one, or a kept version. */
export async function rollbackTarget(store: Store, service: Service, toVersion: bigint): Promise<ServiceSpec> {
  const name = service.spec!.name;
  if (toVersion === 0n) {
    if (!service.previousSpec) throw new FailedPreconditionError(`service "${name}" has no previous version to roll back to`);
    return service.previousSpec;
  }
  if (toVersion === service.version) throw new InvalidArgumentError(`service "${name}" is at version ${toVersion} already`);
  const kept = (await readHistory(store, service.id)).find((r) => r.version === toVersion);
  if (!kept?.spec) {
    throw new NotFoundError(`version ${toVersion} of service "${name}" is not kept (the last ${REVISIONS_KEPT} are); \`orch service history ${name}\` lists them`);
  }
  return kept.spec;
}

/** Removes a service, its name, its ports, its addresses and its history. */
export function removeService(store: Store, cache: Cache, log: Logger, ref: string): Promise<{ id: string }> {
  return retryConflicts(async () => {
    const cur = await resolveService(store, cache, ref);
    const txn = store.txn().expect('services', cur.value.id, cur.modRevision).delete('services', cur.value.id).deleteKey(keys.serviceName(cur.value.spec!.name));
    for (const p of cur.value.spec?.endpoint?.ports ?? []) txn.deleteKey(portKey(p));
    for (const v of cur.value.vips) txn.deleteKey(keys.ipam(v.networkId, addrIp(v.addr)));
    txn.deletePrefix(keys.revisionsPrefix(cur.value.id));
    await txn.commit();
    log.info({ service: cur.value.id }, 'service removed');
    return { id: cur.value.id };
  });
}

/** A rollout starts when the tasks would change; otherwise the status stays as it was. */
function rolloutStatus(cache: Cache, cur: Service, next: Service, rollback: boolean, now: Date): UpdateStatus | undefined {
  if (!rollback && sameTemplate(serviceTemplate(cache, cur), serviceTemplate(cache, next))) return cur.updateStatus;
  return {
    state: rollback ? UpdateStatus_State.ROLLBACK_STARTED : UpdateStatus_State.UPDATING,
    startedAt: now,
    completedAt: undefined,
    message: rollback ? 'manually requested rollback' : 'update in progress',
    updated: 0,
    total: cur.updateStatus?.total ?? 0,
  };
}

/** What a spec names, resolved in place to ids (networks, aliases' networks, secrets, configs); the objects read, for the write to compare. */
interface Refs {
  networks: Versioned<Network>[];
  files: ReadObject[];
}

async function resolveRefs(store: Store, cache: Cache, spec: ServiceSpec): Promise<Refs> {
  const networks = await Promise.all([...new Set(spec.networks)].map((ref) => resolveNetwork(store, cache, ref)));
  spec.networks = [...new Set(networks.map((n) => n.value.id))];
  spec.aliases = await Promise.all(spec.aliases.map(async (a) => {
    const n = await resolveNetwork(store, cache, a.network);
    if (!spec.networks.includes(n.value.id)) throw new InvalidArgumentError(`alias ${a.names.join(', ')}: the service does not join network "${a.network}"; add it to its networks`);
    return { network: n.value.id, names: a.names };
  }));
  return { networks, files: await resolveFiles(store, cache, spec) };
}

/**
 * Writes `next` (over `cur`, or new), its references resolved: networks
 * compared, ports that were not held claimed (auto-assigned if asked for
 * without a number), dropped ones freed, the version's history kept.
 */
async function write(store: Store, cache: Cache, next: Service, cur: Versioned<Service> | undefined, heldPorts: PortConfig[], { networks, files }: Refs): Promise<Service> {
  const spec = next.spec!;
  const held = new Set(heldPorts.map(portKey));
  const ports = await choosePorts(store, spec.endpoint?.ports ?? [], held);
  spec.endpoint = { mode: spec.endpoint?.mode ?? 0, ports };
  const name = keys.serviceName(spec.name);
  const txn = store.txn().expect('services', next.id, cur?.modRevision ?? 0).put('services', next.id, next);
  await checkPrivileges(store, spec, txn);
  for (const f of files) txn.expect(f.kind, f.id, f.modRevision);
  if (!cur) txn.expectKey(name, 0).putKey(name, next.id);
  // Rewritten unchanged: a concurrent `network rm` (which compares it) cannot pass meanwhile.
  for (const n of networks) txn.expect('networks', n.value.id, n.modRevision).put('networks', n.value.id, n.value);
  const wanted = new Set(ports.map(portKey));
  for (const p of ports) if (!held.has(portKey(p))) txn.expectKey(portKey(p), 0).putKey(portKey(p), next.id);
  for (const k of held) if (!wanted.has(k)) txn.deleteKey(k);
  // A new version joins the history (a rebalance alone is no new version).
  const revision = !cur || next.version !== cur.value.version ? revisionKeys(next, Date.now()) : {};
  for (const [k, v] of Object.entries(revision.claim ?? {})) txn.expectKey(k, 0).putKey(k, v);
  for (const k of revision.release ?? []) txn.deleteKey(k);
  try {
    await txn.commit();
  } catch (err) {
    // Taken between our read and our write: say which, unless it was the name.
    if (err instanceof ConflictError) for (const p of ports) if (!held.has(portKey(p)) && (await store.getRaw(portKey(p)))) throw portTaken(p);
    throw err;
  }
  return next;
}

const portTaken = (p: PortConfig) =>
  new AlreadyExistsError(`port ${portName(p)} is already published by another service; pick another published port`);

/** Gives ports without a published number one from the auto range; checks that none new is taken (fresh reads). */
async function choosePorts(store: Store, ports: PortConfig[], held: Set<string>): Promise<PortConfig[]> {
  const out: PortConfig[] = [];
  const taken = async (p: PortConfig) => !held.has(portKey(p)) && !!(await store.getRaw(portKey(p)));
  for (const p of ports) {
    if (p.publishedPort) {
      if (await taken(p)) throw portTaken(p);
      out.push(p);
      continue;
    }
    let port = AUTO_PORTS.first;
    const candidate = (n: number) => ({ ...p, publishedPort: n });
    while (port <= AUTO_PORTS.last && ((await taken(candidate(port))) || held.has(portKey(candidate(port))) || out.some((q) => q.protocol === p.protocol && q.publishedPort === port))) port++;
    if (port > AUTO_PORTS.last) throw new FailedPreconditionError(`no free port left in ${AUTO_PORTS.first}-${AUTO_PORTS.last}; give published=PORT`);
    out.push(candidate(port));
  }
  return out;
}

function specJson(spec: ServiceSpec): unknown {
  return ServiceSpec.toJSON(spec);
}

function exists(name: string): AlreadyExistsError {
  return new AlreadyExistsError(`service "${name}" already exists; pick another --name or \`orch service rm ${name}\` first`);
}
