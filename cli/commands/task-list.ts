// Task lists (`orch service ps`, `orch node ps`): Docker's flags and columns.
import type { Command } from 'commander';
import { TaskState, type Node, type Task } from '../../proto/generated/orch.js';
import type { Control } from '../../client/control.js';
import { shortId } from '../../shared/ids.js';
import { stateName, taskName } from '../../shared/states.js';
import { ago } from '../table.js';
import { parseFilters, passes } from '../../shared/filters.js';
import { collect, formatOption } from './common.js';

export const TASK_HEADERS = ['ID', 'NAME', 'IMAGE', 'NODE', 'DESIRED STATE', 'CURRENT STATE', 'ERROR'];

/** One task's row; `host` names nodes by id; `trunc` shortens ids as Docker does unless --no-trunc. */
export function taskRow(t: Task, host: Map<string, string>, trunc = true): string[] {
  const state = stateName(t.status!.state);
  const health = t.status?.health ? ` (${t.status.health})` : '';
  return [
    trunc ? shortId(t.id) : t.id,
    taskName(t),
    t.spec?.image ?? '',
    t.nodeId ? (host.get(t.nodeId) ?? shortId(t.nodeId)) : '',
    stateName(t.desiredState).replace(/^./, (c) => c.toUpperCase()),
    `${state[0]!.toUpperCase()}${state.slice(1)}${health} ${ago(t.status?.timestamp)}`,
    t.status?.err ?? '',
  ];
}

/** The flags `service ps` and `node ps` share. */
export interface TaskListFlags {
  format: string;
  quiet?: boolean;
  trunc: boolean;
  filter: string[];
}

const TASK_FILTER_HELP = 'only tasks with a desired state (desired-state=running|shutdown|accepted), on a node (node=hostname or id), name=, id= (repeatable)';

/** Adds the flags both task lists take. */
export function taskListOptions(c: Command): Command {
  return c.option('-q, --quiet', 'only the task ids').option('--no-trunc', 'full ids').option('-f, --filter <key=value>', TASK_FILTER_HELP, collect, []).addOption(formatOption());
}

/**
 * The tasks `req` lists that pass the --filter flags, with each node's
 * hostname; with -q, their ids are printed and the list is empty.
 */
export async function listTasks(ctl: Control, req: { service?: string; node?: string }, flags: TaskListFlags): Promise<{ tasks: Task[]; host: Map<string, string> }> {
  const [all, { nodes }] = await Promise.all([ctl.listTasks(req), ctl.listNodes({})]);
  const host = new Map(nodes.map((n) => [n.id, n.description?.hostname ?? shortId(n.id)]));
  const tasks = filterTasks(all.tasks, flags, nodes);
  if (!flags.quiet) return { tasks, host };
  process.stdout.write(tasks.map((t) => `${flags.trunc ? shortId(t.id) : t.id}\n`).join(''));
  return { tasks: [], host };
}

/** The tasks that pass the --filter flags (Docker's keys); `nodes` resolve node=. */
function filterTasks(tasks: Task[], flags: TaskListFlags, nodes: Node[]): Task[] {
  const filters = parseFilters(flags.filter, { 'desired-state': ['running', 'shutdown', 'accepted'], node: [], name: [], id: [] });
  const desired = (t: Task) => (t.desiredState === TaskState.RUNNING ? 'running' : t.desiredState > TaskState.RUNNING ? 'shutdown' : 'accepted');
  const onNode = (t: Task, v: string) => t.nodeId.startsWith(v) || nodes.some((n) => n.id === t.nodeId && n.description?.hostname === v);
  return tasks.filter(
    (t) =>
      passes(filters, 'desired-state', (v) => v === desired(t)) &&
      passes(filters, 'node', (v) => !!t.nodeId && onNode(t, v)) &&
      passes(filters, 'name', (v) => taskName(t).startsWith(v)) &&
      passes(filters, 'id', (v) => t.id.startsWith(v)),
  );
}
