// Waiting for a service to converge, with Docker's progress display:
//   overall progress: 2 out of 3 tasks
//   3/3: no suitable node (1 node not ready)
// On a terminal the lines are redrawn in place; otherwise a line is printed
// whenever what it says changes (so logs of scripted runs stay readable).
import { isDeepStrictEqual } from 'node:util';
import { ContainerSpec, ServiceSpec_Mode, TaskState, UpdateStatus_State, updateStatus_StateToJSON, type Service, type Task, type UpdateStatus } from '../proto/generated/orch.js';
import { formatDuration } from '../shared/duration.js';
import { OrchError } from '../shared/errors.js';
import { isReady, isTerminal, rollingOut, stateName } from '../shared/states.js';
import type { Control } from '../client/control.js';

const POLL_MS = 50;

export interface Convergence {
  running: number;
  desired: number;
  /** Slots that report a problem, as "slot/desired: why". */
  problems: string[];
  done: boolean;
}

/**
 * Judges a service's task list: converged when every slot runs and nothing
 * removed still runs. `desired` is the replica count, or undefined for a
 * global service, whose slots are its nodes (one per live task's node).
 */
export function convergence(desired: number | undefined, tasks: Task[]): Convergence {
  const slotOf = (t: Task) => t.targetNode || String(t.slot);
  const live = tasks.filter((t) => t.desiredState === TaskState.RUNNING && (desired === undefined || t.slot <= desired));
  const want = desired ?? new Set(live.map(slotOf)).size;
  const runningSlots = new Set(live.filter((t) => t.status?.state === TaskState.RUNNING).map(slotOf));
  const stopping = tasks.filter((t) => t.desiredState !== TaskState.RUNNING && !isTerminal(t.status?.state ?? TaskState.NEW) && t.nodeId);
  const problems = live
    .filter((t) => !runningSlots.has(slotOf(t)) && t.status?.err)
    .map((t) => `${t.targetNode ? t.targetNode.slice(0, 12) : t.slot}/${want}: ${t.status!.err}`);
  const running = runningSlots.size;
  // A task still on its way (e.g. a rebalancing move) means the service is not there yet.
  const onTheWay = live.some((t) => t.status?.state !== TaskState.RUNNING && !isTerminal(t.status?.state ?? TaskState.NEW));
  return { running, desired: want, problems: [...new Set(problems)].sort(), done: running === want && stopping.length === 0 && !onTheWay };
}

/** Shows a block of lines: redrawn in place on a terminal, printed again only when it changed otherwise. */
export function display(out: NodeJS.WriteStream): (text: string) => void {
  const tty = out.isTTY === true;
  let shown = '';
  let lines = 0;
  return (text) => {
    if (text === shown) return;
    shown = text;
    if (tty && lines > 0) out.write(`\x1b[${lines}A\x1b[J`);
    out.write(`${text}\n`);
    lines = text.split('\n').length;
  };
}

/** Polls until the service converges or `timeoutMs` passes (then throws). */
export async function waitForService(ctl: Control, ref: string, out: NodeJS.WriteStream, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const draw = display(out);
  let last: Convergence | undefined;
  const show = (c: Convergence) => draw([`overall progress: ${c.running} out of ${c.desired} tasks`, ...c.problems].join('\n'));
  while (Date.now() < deadline) {
    const service = await ctl.getService({ ref });
    const { tasks } = await ctl.listTasks({ service: service.id });
    last = convergence(service.spec?.mode === ServiceSpec_Mode.GLOBAL ? undefined : (service.spec?.replicas ?? 0), tasks);
    show(last);
    if (last.done && service.rebalanceDone >= service.rebalanceRequested) {
      out.write('verify: Service converged\n');
      return;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  const got = last ? `${last.running} out of ${last.desired} tasks running` : 'no answer';
  throw new OrchError(`service "${ref}" did not converge within ${formatDuration(timeoutMs)} (${got}); \`orch service ps ${ref}\` shows why`);
}

/** A rollout's state as people read it: "updating 2/6", "paused", "rollback completed". */
export function updateState(s: UpdateStatus | undefined): string {
  if (!s || s.state === UpdateStatus_State.NONE) return '';
  const name = updateStatus_StateToJSON(s.state).toLowerCase().replace('_', ' ').replace('rollback started', 'rolling back');
  return rollingOut(s) ? `${name} ${s.updated}/${s.total}` : name;
}

/** One line per slot: the state of its newest wanted task, and whether it runs the new spec. */
export function rolloutLines(service: Service, tasks: Task[]): string[] {
  const since = service.updateStatus?.startedAt?.getTime() ?? 0;
  const total = service.updateStatus?.total || service.spec?.replicas || 0;
  const bySlot = new Map<string, Task>();
  for (const t of tasks) {
    if (t.desiredState !== TaskState.RUNNING) continue;
    const k = t.targetNode ? t.targetNode.slice(0, 12) : String(t.slot);
    const seen = bySlot.get(k);
    if (!seen || (t.createdAt?.getTime() ?? 0) > (seen.createdAt?.getTime() ?? 0)) bySlot.set(k, t);
  }
  return [...bySlot.entries()]
    .sort(([a], [b]) => Number(a) - Number(b) || a.localeCompare(b))
    .map(([k, t]) => {
      // Made for this rollout, or already running what it rolls out to (a slot a rollback leaves alone).
      const fresh = (t.createdAt?.getTime() ?? 0) >= since || isDeepStrictEqual(ContainerSpec.toJSON(t.spec!), ContainerSpec.toJSON(service.spec!.container!));
      const what = fresh ? (isReady(t.status) ? 'updated' : stateName(t.status?.state ?? TaskState.NEW)) : 'not yet updated';
      return `${k}/${total}: ${what}${t.status?.err ? ` (${t.status.err})` : ''}`;
    });
}

/**
 * Follows a rollout started by `started` (an update or a rollback) until it
 * completes and the service converges: Docker's display, then
 * `verify: Service converged`. Throws (so the CLI exits non-zero) when it
 * paused or rolled back, with the reason, or after `timeoutMs`.
 */
export async function waitForRollout(ctl: Control, started: Service, out: NodeJS.WriteStream, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const draw = display(out);
  const name = started.spec!.name;
  const wasRollback = started.updateStatus?.state === UpdateStatus_State.ROLLBACK_STARTED;
  let said = '';
  while (Date.now() < deadline) {
    const service = await ctl.getService({ ref: started.id });
    const { tasks } = await ctl.listTasks({ service: service.id });
    const s = service.updateStatus;
    const rollingBack = s?.state === UpdateStatus_State.ROLLBACK_STARTED || s?.state === UpdateStatus_State.ROLLBACK_PAUSED || s?.state === UpdateStatus_State.ROLLBACK_COMPLETED;
    if (!wasRollback && rollingBack && !said) {
      said = s!.message;
      out.write(`rollback: ${said}\n`);
    }
    draw([`overall progress: ${s?.updated ?? 0} out of ${s?.total ?? 0} tasks`, ...rolloutLines(service, tasks)].join('\n'));
    if (s?.state === UpdateStatus_State.PAUSED || s?.state === UpdateStatus_State.ROLLBACK_PAUSED) {
      throw new OrchError(`${s.message}; \`orch service ps ${name}\` shows the tasks, \`orch service update ${name}\` with a fix resumes`);
    }
    const done = s?.state === UpdateStatus_State.COMPLETED || s?.state === UpdateStatus_State.ROLLBACK_COMPLETED;
    if (done && convergence(service.spec?.mode === ServiceSpec_Mode.GLOBAL ? undefined : service.spec!.replicas, tasks).done) {
      out.write('verify: Service converged\n');
      if (!wasRollback && rollingBack) throw new OrchError(`service ${name}: ${said || 'update rolled back'}`);
      return;
    }
    await new Promise((r) => setTimeout(r, POLL_MS * 4));
  }
  throw new OrchError(`the rollout of service "${name}" did not finish within ${formatDuration(timeoutMs)}; \`orch service inspect ${name}\` shows its update status`);
}

/**
 * Polls until every service named has converged and finished its rollout,
 * with one line per service ("app_web  2/3  waiting for app_db to be
 * healthy"); throws after `timeoutMs`.
 */
export async function waitForServices(ctl: Control, names: string[], out: NodeJS.WriteStream, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const draw = display(out);
  const width = Math.max(...names.map((n) => n.length));
  let pending = names;
  while (Date.now() < deadline) {
    const [{ services }, { tasks: all }] = await Promise.all([ctl.listServices({}), ctl.listTasks({})]);
    const lines: string[] = [];
    pending = [];
    for (const name of names) {
      const service = services.find((s) => s.service!.spec!.name === name)?.service;
      if (!service) {
        lines.push(`${name.padEnd(width)}  not found`);
        pending.push(name);
        continue;
      }
      const c = convergence(service.spec?.mode === ServiceSpec_Mode.GLOBAL ? undefined : (service.spec?.replicas ?? 0), all.filter((t) => t.serviceId === service.id));
      const rolling = rollingOut(service.updateStatus);
      const done = c.done && !rolling;
      if (!done) pending.push(name);
      const why = rolling ? updateState(service.updateStatus) : c.problems[0]?.replace(/^\S+: /, '') ?? (done ? 'running' : 'starting');
      lines.push(`${name.padEnd(width)}  ${`${c.running}/${c.desired}`.padEnd(7)} ${why}`);
    }
    draw(lines.join('\n'));
    if (pending.length === 0) {
      out.write('verify: Stack converged\n');
      return;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new OrchError(`the stack did not converge within ${formatDuration(timeoutMs)} (${pending.join(', ')} not there yet); \`orch stack ps\` shows why`);
}
