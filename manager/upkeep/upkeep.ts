// The leader's upkeep of etcd: every pass it asks the members how they are,
// plans (plan.ts) and carries out one compaction or one defragmentation.
// Compaction keeps the newest revisions (a watcher that briefly lags resumes;
// one further behind gets etcd's "compacted" error and re-lists, as the
// mirror does on any watch trouble). The last compaction is recorded in etcd
// so a new leader goes on from it.
import type { StoreMember } from '../../proto/generated/orch.js';
import type { Logger } from '../../shared/log.js';
import { Loop } from '../loop.js';
import type { Cache, Store } from '../store/index.js';
import { compact, currentRevision, defragment, lastCompaction, recordCompaction } from '../store/maintenance.js';
import { memberStatuses } from '../store/members.js';
import { formatBytes } from '../../shared/units.js';
import { planUpkeep, type UpkeepAction, type UpkeepPolicy } from './plan.js';

/** How often the leader looks at etcd. */
const PASS_MS = 10_000;

export class Upkeep {
  private readonly loop: Loop;
  /** The members as the last pass saw them. */
  private members: StoreMember[] = [];
  /** With no compaction recorded, time counts from when this leader began. */
  private since = Date.now();

  constructor(
    private readonly store: Store,
    private readonly cache: Cache,
    private readonly log: Logger,
    private readonly policy: UpkeepPolicy,
  ) {
    this.loop = new Loop('upkeep', log, () => this.pass(), PASS_MS);
  }

  start(): void {
    this.since = Date.now();
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  private async pass(): Promise<void> {
    const [members, revision, compacted] = await Promise.all([memberStatuses(this.store.endpoints, this.store.tls), currentRevision(this.store), lastCompaction(this.store)]);
    this.members = members;
    const view = { now: Date.now(), revision, mirrored: this.cache.revision, compacted: compacted ?? { revision: 0, at: this.since }, members };
    const actions = planUpkeep(view, this.policy);
    for (const a of actions) await this.carryOut(a);
  }

  private async carryOut(a: UpkeepAction): Promise<void> {
    if (a.kind === 'compact') {
      await compact(this.store, a.revision);
      await recordCompaction(this.store, a.revision);
      this.log.info({ revision: a.revision, why: a.why }, 'etcd history compacted');
      return;
    }
    const before = this.members.find((m) => m.endpoint === a.endpoint);
    const started = Date.now();
    await defragment(this.store, a.endpoint);
    this.log.info({ member: a.endpoint, why: a.why, before: before && formatBytes(before.dbSize), ms: Date.now() - started }, 'etcd member defragmented');
  }
}
