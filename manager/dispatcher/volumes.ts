// The orch volumes an agent reports go onto its node in etcd: what `orch
// volume ls` lists and what the scheduler reads to send a slot back to the
// node that holds its volume. So does its answer to a volume removal. Fenced,
// compared, retried on a conflict.
import { isDeepStrictEqual } from 'node:util';
import { VolumeInfo, type VolumeRemoved } from '../../proto/generated/orch.js';
import { NotLeaderError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import { volumeRemovalId } from '../store/keys.js';
import { retryConflicts, type Store } from '../store/index.js';

/** Writes each node's newest report, one write at a time per node (an older report never lands over a newer one), and its answers to removals. */
export class VolumeRecorder {
  private readonly latest = new Map<string, VolumeInfo[]>();
  private readonly writing = new Set<string>();

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
  ) {}

  report(nodeId: string, volumes: VolumeInfo[]): void {
    this.latest.set(nodeId, volumes);
    if (this.writing.has(nodeId)) return;
    this.writing.add(nodeId);
    void (async () => {
      for (let v = this.latest.get(nodeId); v; v = this.latest.get(nodeId)) {
        this.latest.delete(nodeId);
        await recordVolumes(this.store, this.log, nodeId, v);
      }
      this.writing.delete(nodeId);
    })();
  }

  /**
   * Records a node's answer to a removal: done, the request goes and the
   * volume leaves the node's list in the same write; refused, the request
   * says why (the manager waiting on it tells the user, then withdraws it).
   */
  removed(nodeId: string, answer: VolumeRemoved): void {
    const id = volumeRemovalId(nodeId, answer.name);
    void retryConflicts(async () => {
      const request = await this.store.get('volumeRemovals', id);
      if (!request || request.value.error) return; // withdrawn meanwhile, or answered already
      const txn = this.store.txn({ fenced: true }).expect('volumeRemovals', id, request.modRevision);
      if (answer.error) return void (await txn.put('volumeRemovals', id, { ...request.value, error: answer.error }).commit());
      const node = await this.store.get('nodes', nodeId);
      if (node) txn.expect('nodes', nodeId, node.modRevision).put('nodes', nodeId, { ...node.value, volumes: node.value.volumes.filter((v) => v.name !== answer.name) });
      await txn.delete('volumeRemovals', id).commit();
    }).catch((err) => {
      if (!(err instanceof NotLeaderError)) this.log.warn({ node: nodeId, volume: answer.name, err: String(err) }, "recording the node's answer to a volume removal failed");
    });
  }
}

/** Writes the node's volumes if they changed (sorted by name, so the same set is the same value). */
async function recordVolumes(store: Store, log: Logger, nodeId: string, reported: VolumeInfo[]): Promise<void> {
  const volumes = [...reported].sort((a, b) => a.name.localeCompare(b.name)).map((v) => ({ ...v, tasks: [...v.tasks].sort() }));
  const json = (list: VolumeInfo[]) => list.map((v) => VolumeInfo.toJSON(v));
  try {
    await retryConflicts(async () => {
      const cur = await store.get('nodes', nodeId);
      if (!cur || isDeepStrictEqual(json(cur.value.volumes), json(volumes))) return;
      await store.txn({ fenced: true }).expect('nodes', nodeId, cur.modRevision).put('nodes', nodeId, { ...cur.value, volumes }).commit();
    });
  } catch (err) {
    if (!(err instanceof NotLeaderError)) log.warn({ node: nodeId, err: String(err) }, "recording the node's volumes failed");
  }
}
