// The orchestrator's and the reaper's passes as pure plans, driven through a
// harness that records every plan and applies it to its own snapshot the way
// etcd would (a change whose object moved on meanwhile is refused), then
// lets time pass and tasks run, fail or lose their node.
import test from 'ava';
import { Node, NodeAvailability, NodeState, RestartPolicy_Condition, Service, TaskState, type Task } from '../../proto/generated/orch.js';
import { planOrchestration, planReaping } from '../../manager/orchestrator/index.js';
import type { Change, Snapshot, Versioned } from '../../manager/store/index.js';

class Harness {
  readonly snap: Snapshot = { nodes: new Map(), services: new Map(), tasks: new Map(), networks: new Map() };
  /** Every plan, in order. */
  readonly plans: Change[][] = [];
  private rev = 1;
  now = 1_000_000;

  node(id: string, state = NodeState.NODE_READY): void {
    this.set('nodes', id, Node.fromPartial({ id, state, availability: NodeAvailability.ACTIVE, description: { hostname: id } }));
  }

  service(id: string, replicas: number, delayMs = 0): void {
    this.set('services', id, Service.fromPartial({ id, spec: { name: id, replicas, container: { image: 'img' }, restart: { condition: RestartPolicy_Condition.RESTART_ANY, delayMs, maxAttempts: 0, windowMs: 0 } } }));
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
  report(t: Task, state: TaskState, node = t.nodeId || 'n1'): void {
    this.set('tasks', t.id, { ...t, nodeId: node, status: { ...t.status!, state, timestamp: new Date(this.now) } });
  }

  set<K extends keyof Snapshot>(kind: K, id: string, value: Snapshot[K] extends Map<string, Versioned<infer V>> ? V : never): void {
    (this.snap[kind] as Map<string, Versioned<unknown>>).set(id, { value, modRevision: ++this.rev });
  }

  private record(changes: Change[]): void {
    this.plans.push(changes);
    for (const c of changes) {
      const table = this.snap[c.kind] as Map<string, Versioned<unknown>>;
      if ((table.get(c.id)?.modRevision ?? 0) !== c.modRevision) continue; // etcd would refuse it
      if (c.value === undefined) table.delete(c.id);
      else table.set(c.id, { value: c.value, modRevision: ++this.rev });
    }
  }
}

const desired = (changes: Change[]) => changes.map((c) => (c.kind === 'tasks' ? `${c.modRevision === 0 ? 'create' : c.value === undefined ? 'delete' : TaskState[c.value.desiredState]} ${c.value?.slot ?? ''}`.trim() : c.kind));

test('a new service gets one task per slot; the next pass plans nothing', (t) => {
  const h = new Harness();
  h.node('n1');
  h.service('web', 3);
  t.deepEqual(desired(h.orchestrate().changes), ['create 1', 'create 2', 'create 3']);
  t.deepEqual(h.orchestrate().changes, [], 'nothing more to do');
});

test('a failed task is retired to history and replaced after the restart delay; the plan says when to wake', (t) => {
  const h = new Harness();
  h.node('n1');
  h.service('web', 1, 5000);
  h.orchestrate();
  const [first] = h.live('web');
  h.report(first!, TaskState.FAILED);
  const plan = h.orchestrate();
  t.deepEqual(desired(plan.changes), ['SHUTDOWN 1'], 'retired, no replacement yet');
  t.is(plan.wakeAt, h.now + 5000);
  h.now += 5000;
  const later = h.orchestrate();
  t.deepEqual(desired(later.changes), ['create 1']);
  t.is((later.changes[0]!.value as Task).attempt, 1);
});

test('scale: slots above the count are removed, new ones created', (t) => {
  const h = new Harness();
  h.node('n1');
  h.service('web', 3);
  h.orchestrate();
  h.service('web', 1);
  t.deepEqual(desired(h.orchestrate().changes).sort(), ['REMOVE 2', 'REMOVE 3']);
  h.service('web', 2);
  t.deepEqual(desired(h.orchestrate().changes), ['create 2']);
});

test('a node lost: its task is replaced at once and removed once the replacement runs; a node back first keeps its task', (t) => {
  const h = new Harness();
  h.node('n1');
  h.node('n2');
  h.service('web', 1, 60_000);
  h.orchestrate();
  const [task] = h.live('web');
  h.report(task!, TaskState.RUNNING, 'n1');
  h.node('n1', NodeState.NODE_DOWN);
  t.deepEqual(desired(h.orchestrate().changes), ['create 1'], 'replaced at once, whatever the restart delay');
  const replacement = h.live('web').find((x) => x.id !== task!.id)!;
  t.deepEqual(desired(h.orchestrate().changes), [], 'the lost task stays while its replacement does not run');
  h.report(replacement, TaskState.RUNNING, 'n2');
  t.deepEqual(desired(h.orchestrate().changes), ['REMOVE 1'], 'the lost task goes');
  t.deepEqual(h.live('web').map((x) => x.id), [replacement.id]);

  // Again, but the node returns before the replacement runs.
  h.node('n2', NodeState.NODE_DOWN);
  h.orchestrate();
  h.node('n2');
  t.deepEqual(desired(h.orchestrate().changes), ['REMOVE 1'], 'the unstarted replacement is dropped');
  t.deepEqual(h.live('web').map((x) => x.id), [replacement.id], 'the returning node keeps its task');
});

test('a removed service: every task is removed; the reaper forgets them once nothing runs, freeing their addresses', (t) => {
  const h = new Harness();
  h.node('n1');
  h.service('web', 2);
  h.orchestrate();
  const [a, b] = h.live('web');
  h.report(a!, TaskState.RUNNING);
  h.set('tasks', b!.id, { ...b!, networks: [{ networkId: 'net1', addr: '10.0.0.5/24' }] });
  h.snap.services.delete('web');
  t.deepEqual(desired(h.orchestrate().changes).sort(), ['REMOVE 1', 'REMOVE 2']);
  const reaped = h.reap();
  t.deepEqual(reaped.map((c) => c.id), [b!.id], 'the task never placed goes; the running one waits for its container to stop');
  t.deepEqual(reaped[0]!.release, ['/orch/v1/ipam/net1/10.0.0.5']);
  h.report(h.tasks('web')[0]!, TaskState.SHUTDOWN);
  t.is(h.reap().length, 1);
  t.deepEqual(h.tasks('web'), []);
});

test('history: beyond 3 ended tasks a slot removes its oldest', (t) => {
  const h = new Harness();
  h.node('n1');
  h.service('web', 1);
  h.orchestrate();
  for (let i = 0; i < 5; i++) {
    h.report(h.live('web')[0]!, TaskState.FAILED);
    h.now += 1000;
    h.orchestrate();
  }
  const ended = h.tasks('web').filter((x) => x.desiredState !== TaskState.RUNNING);
  t.is(ended.filter((x) => x.desiredState === TaskState.SHUTDOWN).length, 3);
  t.true(ended.filter((x) => x.desiredState === TaskState.REMOVE).length >= 1);
});

test('a rebalance asked for: tasks move off the busiest node, each marked as replacing, and the request is recorded done', (t) => {
  const h = new Harness();
  h.node('n1');
  h.service('web', 4);
  h.orchestrate();
  for (const x of h.live('web')) h.report(x, TaskState.RUNNING, 'n1');
  h.node('n2');
  const s = h.snap.services.get('web')!.value;
  h.set('services', 'web', { ...s, rebalanceRequested: 1n });
  const plan = h.orchestrate().changes;
  const moves = plan.filter((c): c is Change & { kind: 'tasks' } => c.kind === 'tasks').map((c) => c.value!);
  t.is(moves.length, 2, '4 on n1 and 0 on n2: two move');
  t.true(moves.every((m) => m.replaces !== '' && m.nodeId === ''), 'new tasks replacing running ones, for the scheduler to place');
  t.deepEqual(plan.filter((c) => c.kind === 'services').map((c) => (c.value as Service).rebalanceDone), [1n]);
});

test('a change refused because its object moved on is planned again from the new state', (t) => {
  const h = new Harness();
  h.node('n1');
  h.service('web', 1);
  h.orchestrate();
  const [task] = h.live('web');
  h.report(task!, TaskState.FAILED);
  const stale = planOrchestration(h.snap, h.now);
  h.report(h.live('web')[0]!, TaskState.COMPLETE); // the agent spoke meanwhile
  const shutdown = stale.changes.find((c) => c.kind === 'tasks' && c.id === task!.id)!;
  t.not(h.snap.tasks.get(task!.id)!.modRevision, shutdown.modRevision, 'the plan was made on an older revision');
  t.deepEqual(desired(h.orchestrate().changes), ['SHUTDOWN 1', 'create 1'], 'the next pass plans from what is there now');
});
