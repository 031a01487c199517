// Task tables (`orch service ps`, `orch node ps`) in Docker's columns.
import { TaskState, type Node, type Task } from '../proto/generated/orch.js';
import { shortId } from '../shared/ids.js';
import { stateName, taskName } from '../shared/states.js';
import { ago } from './table.js';
import { parseFilters, passes } from '../shared/filters.js';

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

export const TASK_FILTER_HELP = 'only tasks with a desired state (desired-state=running|shutdown|accepted), on a node (node=hostname or id), name=, id= (repeatable)';

/** The tasks that pass the --filter flags (Docker's keys); `nodes` resolve node=. */
export function filterTasks(tasks: Task[], flags: TaskListFlags, nodes: Node[]): Task[] {
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
