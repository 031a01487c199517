// The cluster's events: what a change of one object means (derive.ts, pure),
// and the journal that numbers them by etcd revision, replays what it kept
// and resumes after a given event with nothing missed or repeated.
import { EventEmitter } from 'node:events';
import test from 'ava';
import { ClusterEvent, EventsRequest, Node, NodeAvailability, NodeState, Service, Task, TaskState, UpdateStatus_State } from '../../proto/generated/orch.js';
import { deriveEvents, leaderEvent } from '../../manager/events/derive.js';
import { EventJournal } from '../../manager/events/journal.js';
import type { Cache, ObjectChange } from '../../manager/store/index.js';

const now = new Date('2026-12-02T12:00:00Z');
const host = (id: string) => `host-${id}`;
const svc = (over: Parameters<typeof Service.fromPartial>[0] = {}) => Service.fromPartial({ id: 's1', version: 1n, spec: { name: 'web', replicas: 2, container: { image: 'nginx:1' } }, createdAt: new Date(1000), updatedAt: new Date(2000), ...over });
const task = (state: TaskState, over: Parameters<typeof Task.fromPartial>[0] = {}) => Task.fromPartial({ id: 't1', serviceName: 'web', slot: 3, nodeId: 'n1', status: { state, timestamp: new Date(3000) }, createdAt: new Date(500), ...over });
const node = (over: Parameters<typeof Node.fromPartial>[0] = {}) => Node.fromPartial({ id: 'n1', role: 'worker', state: NodeState.NODE_READY, availability: NodeAvailability.ACTIVE, description: { hostname: 'h1' }, updatedAt: new Date(4000), ...over });

test('services: create, remove, a spec change with what changed, a rollout state change', (t) => {
  t.deepEqual(deriveEvents({ kind: 'services', next: svc() }, host, now), [{ type: 'service', action: 'create', id: 's1', name: 'web', attributes: { image: 'nginx:1' }, time: new Date(1000) }]);
  t.deepEqual(deriveEvents({ kind: 'services', prev: svc() }, host, now).map((e) => [e.action, e.time]), [['remove', now]]);
  const scaled = svc({ version: 2n, spec: { ...svc().spec!, replicas: 5 } });
  t.deepEqual(deriveEvents({ kind: 'services', prev: svc(), next: scaled }, host, now)[0]!.attributes, { version: '2', 'replicas.old': '2', 'replicas.new': '5' });
  const image = svc({ version: 2n, spec: { ...svc().spec!, container: { image: 'nginx:2' } }, updateStatus: { state: UpdateStatus_State.UPDATING } });
  const both = deriveEvents({ kind: 'services', prev: svc(), next: image }, host, now);
  t.deepEqual(both.map((e) => e.attributes), [{ version: '2', 'image.old': 'nginx:1', 'image.new': 'nginx:2' }, { 'updatestate.old': '', 'updatestate.new': 'updating' }]);
  const paused = { ...image, updateStatus: { ...image.updateStatus!, state: UpdateStatus_State.PAUSED, message: 'task failed' } };
  t.deepEqual(deriveEvents({ kind: 'services', prev: image, next: paused }, host, now)[0]!.attributes, { 'updatestate.old': 'updating', 'updatestate.new': 'paused', 'updatestate.message': 'task failed' });
  t.deepEqual(deriveEvents({ kind: 'services', prev: svc(), next: svc({ rebalanceDone: 3n }) }, host, now), [], 'bookkeeping is no news');
});

test('tasks: create, each state change with its node and error, nothing for a change of health or desire alone', (t) => {
  t.deepEqual(deriveEvents({ kind: 'tasks', next: task(TaskState.NEW, { nodeId: '' }) }, host, now), [{ type: 'task', action: 'create', id: 't1', name: 'web.3', attributes: { service: 'web' }, time: new Date(500) }]);
  const failed = task(TaskState.FAILED, { status: { state: TaskState.FAILED, err: 'exit 1', exitCode: 1, timestamp: new Date(3000) } });
  t.deepEqual(deriveEvents({ kind: 'tasks', prev: task(TaskState.RUNNING), next: failed }, host, now), [
    { type: 'task', action: 'failed', id: 't1', name: 'web.3', attributes: { service: 'web', node: 'host-n1', 'state.old': 'running', 'state.new': 'failed', error: 'exit 1', exitCode: '1' }, time: new Date(3000) },
  ]);
  const healthy = task(TaskState.RUNNING, { status: { state: TaskState.RUNNING, health: 'healthy' } });
  t.deepEqual(deriveEvents({ kind: 'tasks', prev: task(TaskState.RUNNING), next: healthy }, host, now), []);
  t.deepEqual(deriveEvents({ kind: 'tasks', prev: task(TaskState.RUNNING), next: task(TaskState.RUNNING, { desiredState: TaskState.SHUTDOWN }) }, host, now), []);
  t.deepEqual(deriveEvents({ kind: 'tasks', prev: task(TaskState.SHUTDOWN) }, host, now)[0]!.action, 'remove');
});

test('nodes: create, one update naming each change of state, availability and role; nothing for the rest', (t) => {
  t.deepEqual(deriveEvents({ kind: 'nodes', next: node() }, host, now)[0]!.action, 'create');
  const down = node({ state: NodeState.NODE_DOWN, stateMessage: 'heartbeat failure' });
  t.deepEqual(deriveEvents({ kind: 'nodes', prev: node(), next: down }, host, now)[0]!.attributes, { 'state.old': 'ready', 'state.new': 'down', 'state.message': 'heartbeat failure' });
  const drained = node({ availability: NodeAvailability.DRAIN, role: 'manager' });
  t.deepEqual(deriveEvents({ kind: 'nodes', prev: node(), next: drained }, host, now)[0]!.attributes, { 'availability.old': 'active', 'availability.new': 'drain', 'role.old': 'worker', 'role.new': 'manager' });
  t.deepEqual(deriveEvents({ kind: 'nodes', prev: node(), next: node({ updatedAt: new Date(9000), certRoot: 'x' }) }, host, now), []);
  t.deepEqual(leaderEvent('m1', 'h2', now), { type: 'node', action: 'leader', id: 'm1', name: 'h2', attributes: { leader: 'true' }, time: now });
});

test('networks, secrets and configs: create and remove', (t) => {
  const n = { id: 'x', spec: { name: 'front' }, createdAt: new Date(7000) };
  t.deepEqual(deriveEvents({ kind: 'networks', next: n as never }, host, now), [{ type: 'network', id: 'x', name: 'front', action: 'create', attributes: {}, time: new Date(7000) }]);
  t.deepEqual(deriveEvents({ kind: 'secrets', prev: n as never }, host, now).map((e) => [e.type, e.action]), [['secret', 'remove']]);
  t.deepEqual(deriveEvents({ kind: 'configs', prev: n as never, next: n as never }, host, now), []);
});

/** A mirror that only emits what a test tells it. */
function fakeCache(): Cache & EventEmitter {
  return Object.assign(new EventEmitter(), { revision: 10, nodes: new Map() }) as unknown as Cache & EventEmitter;
}

/** Serves a request on a journal and collects what it writes until it ends (or `ms` pass). */
function read(journal: EventJournal, req: Partial<EventsRequest>, ms = 50): Promise<ClusterEvent[]> {
  const out: ClusterEvent[] = [];
  const call = Object.assign(new EventEmitter(), { request: EventsRequest.fromPartial(req), write: (e: ClusterEvent) => (out.push(e), true) });
  const served = journal.serve(call as never);
  return Promise.race([served, new Promise((r) => setTimeout(r, ms))]).then(() => (call.emit('cancelled'), out));
}

const change = (cache: EventEmitter, revision: number, next: Service, prev?: Service) => cache.emit('object', { kind: 'services', id: next.id, prev, next, revision } satisfies ObjectChange);

test('the journal numbers events by revision and place, replays after a given one, and says when it kept too little', async (t) => {
  const cache = fakeCache();
  const journal = new EventJournal(cache, 4);
  journal.start();
  const image = svc({ version: 2n, spec: { ...svc().spec!, container: { image: 'nginx:2' } }, updateStatus: { state: UpdateStatus_State.UPDATING } });
  change(cache, 11, svc());
  change(cache, 12, image, svc());
  change(cache, 13, svc({ id: 's2', spec: { ...svc().spec!, name: 'api' }, createdAt: new Date(2500) }));
  cache.emit('object', { kind: 'volumeRemovals', id: 'v', next: {}, revision: 14 } satisfies ObjectChange);
  const all = await read(journal, { resume: true, afterRevision: 10n });
  t.deepEqual(all.map((e) => `${e.revision}.${e.index} ${e.name} ${e.action}`), ['11.0 web create', '12.0 web update', '12.1 web update', '13.0 api create']);
  t.deepEqual((await read(journal, { resume: true, afterRevision: 12n, afterIndex: 0 })).map((e) => `${e.revision}.${e.index}`), ['12.1', '13.0'], 'after an event: the rest, nothing twice');
  t.deepEqual((await read(journal, { since: new Date(1500) })).map((e) => e.name), ['web', 'web', 'api'], '--since: by the time each happened');
  t.deepEqual((await read(journal, { since: new Date(0), filters: ['name=api'] })).map((e) => e.name), ['api']);
  t.deepEqual(await read(journal, {}), [], 'no --since: only what comes next');

  // Two more push the oldest out (it keeps 4, trims past 10% more): a reader from before is told of the gap.
  change(cache, 15, svc({ id: 's3', spec: { ...svc().spec!, name: 'db' } }));
  change(cache, 16, svc({ id: 's4', spec: { ...svc().spec!, name: 'mq' } }));
  const after = await read(journal, { resume: true, afterRevision: 10n });
  t.deepEqual(after.map((e) => `${e.type} ${e.action}`)[0], 'orch gap');
  t.deepEqual(after.slice(1).map((e) => e.revision), [12n, 13n, 15n, 16n]);
});

test('the journal streams new events as they come, until --until', async (t) => {
  const cache = fakeCache();
  const journal = new EventJournal(cache);
  journal.start();
  const out: ClusterEvent[] = [];
  const call = Object.assign(new EventEmitter(), { request: EventsRequest.fromPartial({ until: new Date(Date.now() + 200) }), write: (e: ClusterEvent) => (out.push(e), true) });
  const served = journal.serve(call as never);
  change(cache, 11, svc({ createdAt: new Date() }));
  await served;
  t.deepEqual(out.map((e) => e.action), ['create']);
  change(cache, 12, svc({ id: 's9', createdAt: new Date() }));
  t.is(out.length, 1, 'nothing after it ended');
});
