// Compose's depends_on, which Swarm ignores: a service's tasks are placed
// only once each service it depends on is up in the way asked (one task
// running, running and healthy, or exited 0). Pure: services and tasks in,
// the services that wait (and why) out.
import { Dependency_Condition, TaskState, type Service, type Task } from '../../proto/generated/orch.js';
import { isReady } from '../../shared/states.js';

const MET: Record<Dependency_Condition, (t: Task) => boolean> = {
  [Dependency_Condition.STARTED]: (t) => t.desiredState === TaskState.RUNNING && t.status?.state === TaskState.RUNNING,
  [Dependency_Condition.HEALTHY]: (t) => t.desiredState === TaskState.RUNNING && isReady(t.status),
  [Dependency_Condition.COMPLETED]: (t) => t.status?.state === TaskState.COMPLETE && t.status.exitCode === 0,
  [Dependency_Condition.UNRECOGNIZED]: () => false,
};

const WORDS: Record<Dependency_Condition, string> = {
  [Dependency_Condition.STARTED]: 'to run',
  [Dependency_Condition.HEALTHY]: 'to be healthy',
  [Dependency_Condition.COMPLETED]: 'to complete',
  [Dependency_Condition.UNRECOGNIZED]: 'to be up',
};

/** Service id → why its tasks wait ("waiting for app_db to be healthy"), for each service with a dependency not met. */
export function dependencyWaits(services: Iterable<Service>, tasks: Iterable<Task>): Map<string, string> {
  const all = [...services];
  const dependents = all.filter((s) => s.spec?.dependsOn.length);
  const out = new Map<string, string>();
  if (dependents.length === 0) return out;
  const byName = new Map(all.map((s) => [s.spec!.name, s.id]));
  const tasksOf = new Map<string, Task[]>();
  for (const t of tasks) tasksOf.set(t.serviceId, [...(tasksOf.get(t.serviceId) ?? []), t]);
  for (const s of dependents) {
    const unmet = s.spec!.dependsOn.filter((d) => !(tasksOf.get(byName.get(d.service) ?? '') ?? []).some(MET[d.condition]));
    if (unmet.length) out.set(s.id, `waiting for ${unmet.map((d) => (byName.has(d.service) ? `${d.service} ${WORDS[d.condition]}` : `service ${d.service}, which does not exist`)).join(', ')}`);
  }
  return out;
}
