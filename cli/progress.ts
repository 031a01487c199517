// Waiting for a service to converge, with Docker's progress display:
//   overall progress: 2 out of 3 tasks
//   3/3: no suitable node (1 node not ready)
// On a terminal the lines are redrawn in place; otherwise a line is printed
// whenever what it says changes (so logs of scripted runs stay readable).
import { ServiceSpec_Mode, TaskState, type Task } from '../proto/generated/orch.js';
import { formatDuration } from '../shared/duration.js';
import { OrchError } from '../shared/errors.js';
import { isTerminal } from '../shared/states.js';
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

/** Polls until the service converges or `timeoutMs` passes (then throws). */
export async function waitForService(ctl: Control, ref: string, out: NodeJS.WriteStream, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const tty = out.isTTY === true;
  let shown = '';
  let lines = 0;
  let last: Convergence | undefined;
  const show = (c: Convergence) => {
    const text = [`overall progress: ${c.running} out of ${c.desired} tasks`, ...c.problems].join('\n');
    if (text === shown) return;
    shown = text;
    if (tty && lines > 0) out.write(`\x1b[${lines}A\x1b[J`);
    out.write(`${text}\n`);
    lines = text.split('\n').length;
  };
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
