// Rolling updates and rollbacks (Swarm's updater, as a pure planner).
//
// A change of the task template (image, command, env, resources, health
// check, networks, host ports, placement, `--force`) is written with the
// service's update status set to UPDATING (ROLLBACK_STARTED for a rollback).
// From then on, every pass over the service:
//  - counts failures: a task made for this rollout that ended (failed, was
//    rejected or exited) before it had been ready for the monitor period;
//    beyond the failure ratio, or with no slot updated within the progress
//    deadline, the failure action runs: pause, or roll back to the previous
//    spec (continue: carry on);
//  - starts slots: while fewer than `parallelism` slots are in flight (being
//    replaced, or a worker waiting out its delay), the next slot whose ready
//    task is out of date is replaced, stop-first (the old task stops, then
//    slot.ts starts the new one) or start-first (the new task starts beside
//    it, and slot.ts stops the old one once the new one is ready);
//  - completes once every slot runs a ready task of the current template and
//    each new task has stayed so for the monitor period.
// Everything it reads is in etcd (the status, the tasks' creation and ready
// times), so a new leader carries on where the old one stopped.
import { isDeepStrictEqual } from 'node:util';
import {
  TaskState,
  UpdateConfig_FailureAction,
  UpdateConfig_Order,
  UpdateStatus_State,
  type Service,
  type Task,
  type UpdateConfig,
} from '../../proto/generated/orch.js';
import { formatDuration } from '../../shared/duration.js';
import { shortId } from '../../shared/ids.js';
import { DEFAULT_UPDATE } from '../../shared/spec.js';
import { isReady, isTerminal, rollingOut } from '../../shared/states.js';
import type { Change, Snapshot, Versioned } from '../store/index.js';
import { put } from '../store/changes.js';
import { portKey } from '../store/keys.js';
import { createTask, setDesired, slotView, type SlotKey } from './slot.js';
import { sameTemplate, serviceTemplate, taskTemplate } from './template.js';
import { revisionKeys } from './history.js';

/** One slot as the rollout sees it. */
export interface RolloutSlot {
  key: SlotKey;
  tasks: Versioned<Task>[];
  /** This pass already changed one of its tasks (a restart, a replacement): leave it be. */
  touched: boolean;
}

export interface RolloutPlan {
  wakeAt: number | undefined;
  /** The rollout rolled the service back: what else this pass planned for it was for the spec it left. */
  rolledBack: boolean;
}

/** Plans one pass of a service's rollout; pushes its changes. */
export function planRollout(cache: Snapshot, versioned: Versioned<Service>, slots: RolloutSlot[], changes: Change[], now: number): RolloutPlan {
  const service = versioned.value;
  const status = service.updateStatus;
  if (!rollingOut(status)) return { wakeAt: undefined, rolledBack: false };
  const rollback = status!.state === UpdateStatus_State.ROLLBACK_STARTED;
  const cfg: UpdateConfig = (rollback ? service.spec!.rollbackConfig : service.spec!.updateConfig) ?? DEFAULT_UPDATE;
  const startedAt = status!.startedAt?.getTime() ?? 0;
  const template = serviceTemplate(cache, service);
  const current = (t: Task) => sameTemplate(taskTemplate(t), template);
  const ofRollout = (t: Task) => (t.createdAt?.getTime() ?? 0) >= startedAt && current(t);

  let wakeAt: number | undefined;
  const wake = (at: number) => (wakeAt = Math.min(wakeAt ?? Infinity, at));
  const failures: Task[] = [];
  const outdated: Array<{ key: SlotKey; keeper: Versioned<Task> }> = [];
  let updated = 0;
  let busy = 0;
  let resting = 0;
  let monitoring = false;
  let progressAt = startedAt;

  for (const slot of slots) {
    for (const { value: t } of slot.tasks) {
      if (!ofRollout(t)) continue;
      const ready = t.readyAt?.getTime();
      if (ready !== undefined) progressAt = Math.max(progressAt, ready);
      const state = t.status!.state;
      if (isTerminal(state)) {
        const end = t.status!.timestamp?.getTime() ?? now;
        if (state !== TaskState.SHUTDOWN && (ready === undefined || end - ready < cfg.monitorMs)) failures.push(t);
      } else if (ready !== undefined && ready + cfg.monitorMs > now) {
        monitoring = true;
        wake(ready + cfg.monitorMs);
      }
    }
    const view = slotView(cache, slot.tasks);
    const keeper = view.keeper && isReady(view.keeper.value.status) ? view.keeper : undefined;
    if (keeper && current(keeper.value)) {
      updated++;
      // A worker rests for the delay after its slot's new task is ready.
      const ready = keeper.value.readyAt?.getTime();
      if (cfg.delayMs > 0 && ofRollout(keeper.value) && ready !== undefined && ready + cfg.delayMs > now) {
        resting++;
        wake(ready + cfg.delayMs);
      }
    } else if (keeper && view.live.length === 1 && !view.stopping && !slot.touched) {
      outdated.push({ key: slot.key, keeper });
    } else {
      busy++;
    }
  }

  const total = slots.length;
  const next: Service = { ...service, updateStatus: { ...status!, updated, total } };
  const failed = failures.length > 0 && failures.length / Math.max(total, 1) > cfg.maxFailureRatio;
  const stalled = cfg.progressDeadlineMs > 0 && updated < total && now - progressAt > cfg.progressDeadlineMs;
  const action = cfg.failureAction;
  if ((failed || stalled) && action !== UpdateConfig_FailureAction.CONTINUE) {
    const what = rollback ? 'rollback' : 'update';
    const why = failed ? `failure or early termination of task ${shortId(failures[0]!.id)}${failures[0]!.status?.err ? ` (${failures[0]!.status.err})` : ''}` : `no progress for ${formatDuration(cfg.progressDeadlineMs)}`;
    if (action === UpdateConfig_FailureAction.ROLLBACK && !rollback && service.previousSpec) {
      changes.push(rolledBack(versioned, `update rolled back due to ${why}`, now));
      return { wakeAt: undefined, rolledBack: true };
    }
    next.updateStatus = { ...next.updateStatus!, state: rollback ? UpdateStatus_State.ROLLBACK_PAUSED : UpdateStatus_State.PAUSED, message: `${what} paused due to ${why}` };
  } else if (updated === total && busy === 0 && !monitoring) {
    next.updateStatus = {
      ...next.updateStatus!,
      state: rollback ? UpdateStatus_State.ROLLBACK_COMPLETED : UpdateStatus_State.COMPLETED,
      completedAt: new Date(now),
      message: rollback ? 'rollback completed' : 'update completed',
    };
  } else {
    if (cfg.progressDeadlineMs > 0 && updated < total) wake(progressAt + cfg.progressDeadlineMs + 1);
    const room = cfg.parallelism === 0 ? Infinity : cfg.parallelism - busy - resting;
    for (const { key, keeper } of outdated.sort((a, b) => a.key.slot - b.key.slot || a.key.targetNode.localeCompare(b.key.targetNode)).slice(0, Math.max(room, 0))) {
      if (cfg.order === UpdateConfig_Order.START_FIRST) changes.push(createTask(cache, service, key, 0, now, keeper.value.id));
      else setDesired(changes, keeper, TaskState.SHUTDOWN);
    }
  }
  if (!isDeepStrictEqual(next.updateStatus, service.updateStatus)) changes.push(put('services', service.id, versioned.modRevision, next));
  return { wakeAt, rolledBack: false };
}

/** The service rolled back to its previous spec: a new version, rolled out under its rollback config; the ports it publishes follow. */
function rolledBack(versioned: Versioned<Service>, message: string, now: number): Change {
  const s = versioned.value;
  const next: Service = {
    ...s,
    spec: s.previousSpec,
    previousSpec: s.spec,
    version: s.version + 1n,
    updatedAt: new Date(now),
    updateStatus: { state: UpdateStatus_State.ROLLBACK_STARTED, startedAt: new Date(now), completedAt: undefined, message, updated: 0, total: s.updateStatus?.total ?? 0 },
  };
  const history = revisionKeys(next, now);
  const published = (spec: typeof s.spec) => new Set((spec?.endpoint?.ports ?? []).map(portKey));
  const before = published(s.spec);
  const after = published(next.spec);
  const claim = { ...history.claim };
  for (const k of after) if (!before.has(k)) claim[k] = s.id;
  return put('services', s.id, versioned.modRevision, next, { claim, release: [...(history.release ?? []), ...[...before].filter((k) => !after.has(k))] });
}
