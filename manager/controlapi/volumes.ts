// `orch volume ls` and `orch volume rm`. A removal is a request in etcd
// (volumeRemovals/<node>.<name>) that the leader's dispatcher hands to the
// node's agent; the agent removes the volume, or says why not, and the leader
// records the answer. The manager that took the call, leader or not, waits
// for that answer in its mirror, so `rm` returns once the volume is gone.
import { NodeState, TaskState, type ListVolumesResponse, type Node, type RemoveVolumeRequest, type RemoveVolumeResponse, type VolumeRemoval } from '../../proto/generated/orch.js';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError, UnavailableError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import { shortId } from '../../shared/ids.js';
import { isTerminal } from '../../shared/states.js';
import { volumeNames } from '../../shared/templates.js';
import { volumeRemovalId } from '../store/keys.js';
import { retryConflicts, type Cache, type Store } from '../store/index.js';
import { resolveNode } from './resolve.js';

/** How long `volume rm` waits for the node's answer before it withdraws the request (within the CLI's call deadline). */
export const REMOVE_WAIT_MS = 10_000;

/** Every orch volume on every node, as the agents last reported them. */
export function listVolumes(cache: Cache): ListVolumesResponse {
  return {
    volumes: [...cache.nodes.values()]
      .flatMap(({ value: n }) => n.volumes.map((volume) => ({ nodeId: n.id, hostname: n.description?.hostname ?? '', volume })))
      .sort((a, b) => a.volume.name.localeCompare(b.volume.name) || a.hostname.localeCompare(b.hostname)),
  };
}

/** Asks the volume's node to remove it, unless a task uses it; returns once the node has. */
export async function removeVolume(store: Store, cache: Cache, log: Logger, req: RemoveVolumeRequest): Promise<RemoveVolumeResponse> {
  const { name } = req;
  if (!name) throw new InvalidArgumentError('name the volume to remove; `orch volume ls` lists them');
  const nodeId = pickNode(cache, name, req.node);
  const id = volumeRemovalId(nodeId, name);
  const revision = await retryConflicts(async () => {
    const node = await store.get('nodes', nodeId);
    const vol = node?.value.volumes.find((v) => v.name === name);
    if (!node || !vol) throw new NotFoundError(`volume "${name}" is no longer on that node; \`orch volume ls\` lists the volumes`);
    const where = `volume "${name}" on ${hostOf(node.value)}`;
    if (node.value.state !== NodeState.NODE_READY) throw new FailedPreconditionError(`${where}: the node is down; remove the volume once it is back`);
    const user = vol.tasks[0] ?? usersOf(cache, node.value, name)[0];
    if (user) throw new FailedPreconditionError(`${where} is in use by task ${shortId(user)}: remove or update the service that mounts it first`);
    const pending = await store.get('volumeRemovals', id);
    if (pending && !stale(pending.value)) throw new FailedPreconditionError(`${where} is being removed already`);
    const request: VolumeRemoval = { nodeId, name, requestedAt: new Date(), error: '' };
    // The node unchanged since the check: no task began to use the volume in between.
    return store.txn().expect('nodes', nodeId, node.modRevision).expect('volumeRemovals', id, pending?.modRevision ?? 0).put('volumeRemovals', id, request).commit();
  });
  log.info({ node: nodeId, volume: name }, 'volume removal requested');
  // Answered in the mirror, or read once more from etcd when the wait ran out.
  const answer = (await answered(cache, id, revision)) ? cache.volumeRemovals.get(id) : await store.get('volumeRemovals', id);
  if (!answer) return { nodeId };
  // Refused, or no answer in time: the request is withdrawn (unless someone else's replaced it).
  await store.txn().expect('volumeRemovals', id, answer.modRevision).delete('volumeRemovals', id).commit().catch(() => undefined);
  if (answer.value.error) throw new FailedPreconditionError(answer.value.error);
  throw new UnavailableError(`node ${shortId(nodeId)} did not answer within ${REMOVE_WAIT_MS / 1000} s; the request was withdrawn (the volume may still go: \`orch volume ls\` shows)`);
}

/** The node whose volume `name` is: the one named, or the only one that has it. */
function pickNode(cache: Cache, name: string, ref: string): string {
  const holders = [...cache.nodes.values()].map((v) => v.value).filter((n) => n.volumes.some((v) => v.name === name));
  if (ref) {
    const node = resolveNode(cache, ref);
    if (!holders.includes(node)) throw new NotFoundError(`node ${hostOf(node)} has no orch volume "${name}"; \`orch volume ls\` lists the volumes`);
    return node.id;
  }
  if (holders.length === 0) throw new NotFoundError(`no node has an orch volume "${name}"; \`orch volume ls\` lists the volumes`);
  if (holders.length > 1) throw new InvalidArgumentError(`volume "${name}" is on ${holders.length} nodes (${holders.map(hostOf).sort().join(', ')}): say which with --node`);
  return holders[0]!.id;
}

/** Tasks on the node that will mount the volume (placed, not yet running: the agent has not reported them as users). */
function usersOf(cache: Cache, node: Node, name: string): string[] {
  const here = { id: node.id, hostname: node.description?.hostname ?? '' };
  return [...cache.tasks.values()]
    .map((v) => v.value)
    .filter((t) => t.nodeId === node.id && t.desiredState === TaskState.RUNNING && !isTerminal(t.status!.state) && volumeNames(t, here).includes(name))
    .map((t) => t.id);
}

/** A request nobody waits for any more: answered with a refusal, or older than the wait. */
function stale(r: VolumeRemoval): boolean {
  return r.error !== '' || Date.now() - (r.requestedAt?.getTime() ?? 0) > REMOVE_WAIT_MS;
}

/**
 * Waits until the mirror shows the request written at `revision` answered:
 * gone (the node removed the volume) or refused. False if REMOVE_WAIT_MS
 * ran out first.
 */
function answered(cache: Cache, id: string, revision: number): Promise<boolean> {
  return new Promise((resolve) => {
    const check = () => {
      if (cache.revision < revision || cache.volumeRemovals.get(id)?.value.error === '') return;
      finish(true);
    };
    const finish = (done: boolean) => {
      clearTimeout(timer);
      cache.off('change', check);
      resolve(done);
    };
    const timer = setTimeout(() => finish(false), REMOVE_WAIT_MS);
    cache.on('change', check);
    check();
  });
}

function hostOf(n: Node): string {
  return n.description?.hostname || shortId(n.id);
}
