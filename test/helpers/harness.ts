// Drives the leader's pure passes as Nomad's scheduler tests do: a harness
// holds a snapshot, records every plan and applies it the way etcd would (a
// change whose object moved on meanwhile is refused), and lets time pass and
// tasks run, fail or lose their node.
import { Node, NodeAvailability, NodeState, RestartPolicy_Condition, Service, TaskState, UpdateStatus_State, ServiceSpec, type Task } from '../../proto/generated/orch.js';
import { planOrchestration } from '../../manager/orchestrator/orchestrator.js';
import { planReaping } from '../../manager/orchestrator/reaper.js';
import type { Change, Snapshot, Versioned } from '../../manager/store/index.js';
import { withDefaults } from '../../shared/spec.js';
import { isReady } from '../../shared/states.js';

/** A snapshot the passes plan over, and every plan they made. */
export class Harness {
  readonly snap: Snapshot = { nodes: new Map(), services: new Map(), tasks: new Map(), networks: new Map() };
  /** Every plan, in order. */
  readonly plans: Change[][] = [];
  private rev = 1;
  now = 1_000_000;

  node(id: string, state = NodeState.NODE_READY): void {
    this.set('nodes', id, Node.fromPartial({ id, state, availability: NodeAvailability.ACTIVE, description: { hostname: id } }));
  }

  service(id: string, replicas: number, delayMs = 0, over: Partial<ServiceSpec> = {}): void {
    const spec = withDefaults({ ...ServiceSpec.fromPartial({ name: id, replicas, container: { image: 'img' }, restart: { condition: RestartPolicy_Condition.RESTART_ANY, delayMs, maxAttempts: 0, windowMs: 0 } }), ...over });
    this.set('services', id, Service.fromPartial({ id, spec, version: 1n }));
  }

  /** What the control API writes for a change of the task template: a new version, rolling out from now. */
  update(id: string, change: (spec: ServiceSpec) => ServiceSpec): void {
    const cur = this.snap.services.get(id)!.value;
    this.set('services', id, {
      ...cur,
      spec: change(structuredClone(cur.spec!)),
      previousSpec: cur.spec,
      version: cur.version + 1n,
      updateStatus: { state: UpdateStatus_State.UPDATING, startedAt: new Date(this.now), completedAt: undefined, message: 'update in progress', updated: 0, total: 0 },
    });
  }

  serviceOf(id: string): Service {
    return this.snap.services.get(id)!.value;
  }

  /** One orchestration pass: recorded, applied; returns its plan. */
  orchestrate(): { changes: Change[]; wakeAt: number | undefined } {
    const plan = planOrchestration(this.snap, this.now);
    this.record(plan.changes);
    return plan;
  }

  reap(): Change[] {
    const changes = planReaping(this.snap);
    this.record(changes);
    return changes;
  }

  /** Tasks of a service that are wanted running, by slot. */
  live(serviceId: string): Task[] {
    return this.tasks(serviceId).filter((t) => t.desiredState === TaskState.RUNNING).sort((a, b) => a.slot - b.slot);
  }

  tasks(serviceId: string): Task[] {
    return [...this.snap.tasks.values()].map((v) => v.value).filter((t) => t.serviceId === serviceId);
  }

  /** What an agent reports: the task is placed on `node` and in `state`. */
  report(t: Task, state: TaskState, node = t.nodeId || 'n1', health = ''): void {
    const status = { ...t.status!, state, health, timestamp: new Date(this.now) };
    // As the dispatcher does: the first moment it was ready is kept.
    this.set('tasks', t.id, { ...t, nodeId: node, status, readyAt: t.readyAt ?? (isReady(status) ? new Date(this.now) : undefined) });
  }

  /** The agent's side: every task wanted running and not yet so starts; every task asked to stop stops. */
  settle(serviceId: string, node = 'n1'): void {
    for (const t of this.tasks(serviceId)) {
      if (t.desiredState === TaskState.RUNNING && t.status!.state < TaskState.RUNNING) this.report(t, TaskState.RUNNING, t.nodeId || node);
      else if (t.desiredState !== TaskState.RUNNING && t.status!.state <= TaskState.RUNNING) this.report(t, TaskState.SHUTDOWN, t.nodeId || node);
    }
  }

  set<K extends keyof Snapshot>(kind: K, id: string, value: Snapshot[K] extends Map<string, Versioned<infer V>> ? V : never): void {
    (this.snap[kind] as Map<string, Versioned<unknown>>).set(id, { value, modRevision: ++this.rev });
  }

  private record(changes: Change[]): void {
    this.plans.push(changes);
    for (const c of changes) {
      const table = this.snap[c.kind as keyof Snapshot] as Map<string, Versioned<unknown>>;
      if ((table.get(c.id)?.modRevision ?? 0) !== c.modRevision) continue; // etcd would refuse it
      if (c.value === undefined) table.delete(c.id);
      else table.set(c.id, { value: c.value, modRevision: ++this.rev });
    }
  }
}

/** A plan in short: `create 1`, `SHUTDOWN 2`, `services`. */
export const desired = (changes: Change[]) => changes.map((c) => (c.kind === 'tasks' ? `${c.modRevision === 0 ? 'create' : c.value === undefined ? 'delete' : TaskState[c.value.desiredState]} ${c.value?.slot ?? ''}`.trim() : c.kind));

