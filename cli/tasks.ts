// Task tables (`orch service ps`, `orch node ps`) in Docker's columns.
import type { Task } from '../proto/generated/orch.js';
import { shortId } from '../shared/ids.js';
import { stateName, taskName } from '../shared/states.js';
import { ago } from './table.js';

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
