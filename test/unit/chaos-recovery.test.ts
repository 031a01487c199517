// How the chaos report measures each fault's disturbance from the samples.
import test from 'ava';
import { Node, NodeState, Service, Task, TaskState } from '../../proto/generated/orch.js';
import type { Control } from '../../client/control.js';
import { convergence } from '../../chaos/invariants.js';
import { RunClock } from '../../chaos/clock.js';
import { allServices, disturbances, failedOutsideFaults, sampleOf, type Sample, type TimedFault } from '../../chaos/report.js';

const at = (ms: number, running: number, answered = true): Sample => ({ at: ms, running, desired: 10, replicatedRunning: running, replicatedDesired: 10, answered });
const fault = (ms: number, mostMs = 3000): TimedFault => ({ at: ms, doneAt: ms, mostMs });
// Without the time a sample was whole since (the measure before it was recorded).
const measure = (samples: Sample[], faults: TimedFault[] = [fault(1000)]) => disturbances(samples, faults, (s) => ({ running: s.running, desired: s.desired }));

test('no short sample after the fault: 0', (t) => {
  t.deepEqual(measure([at(500, 10), at(1500, 10), at(2000, 10)]), [0]);
});

test('short, then whole: from the fault to the first whole sample', (t) => {
  t.deepEqual(measure([at(1500, 10), at(2000, 8), at(2500, 9), at(3000, 10)]), [2000]);
  t.deepEqual(measure([at(2000, 8), at(3000, 11)]), [2000], "more than wanted (a slot's two copies for a moment) is not short");
});

test('a whole sample that says since when the services were whole ends the dip then, not when the answer came', (t) => {
  const svc = (wholeSince: number | null, name = 'api') => ({ name, global: false, wholeSince });
  const whole = (ms: number, since: number): Sample => ({ ...at(ms, 10), services: [svc(since)] });
  const measureSince = (samples: Sample[]) => disturbances(samples, [fault(1000)], allServices);
  t.deepEqual(measureSince([at(1500, 8), at(2000, 0, false), whole(4500, 3200)]), [2200], 'the answer lagged 1.3 s behind the last start');
  t.deepEqual(measureSince([at(1500, 10), at(2000, 0, false), whole(3000, 400)]), [0], 'no task started since the fault: never short, the managers only did not answer');
  t.deepEqual(measure([at(1500, 8), whole(4500, 3200)]), [3500], 'without the accessor, the sample time');
  const shortAsked = (ms: number, asked: number): Sample => ({ ...at(ms, 8), askedAt: asked });
  t.deepEqual(measureSince([shortAsked(3400, 3000), whole(4000, 400)]), [2000], 'a node counted again, no task started: short until the last short sample was asked');
  // Only the services short in the dip say when it ended: another one's task that began later (a rolling update's) does not.
  const apiShort: Sample = { ...at(1500, 8), services: [svc(null), svc(0, 'web')] };
  const back: Sample = { ...at(4500, 10), services: [svc(2600), svc(3900, 'web')] };
  t.deepEqual(measureSince([apiShort, back]), [1600], 'api was short, and whole at 2.6 s');
  t.deepEqual(measureSince([at(1500, 0, false), back]), [2900], 'no sample in the dip answered: every service says');
});

test("a sample counts each service up to its own count: a start-first update's spare task hides no other service's gap", (t) => {
  const svc = (name: string, running: number, desired: number, wholeSince: number | null = 5000, global = false) => ({ name, global, running, desired, wholeSince });
  const s = sampleOf([svc('api', 4, 3), svc('web', 5, 6, null), svc('agentd', 5, 5, 4000, true)], { at: 9000, askedAt: 8900, toRun: (wall) => wall - 1000 });
  t.deepEqual([s.replicatedRunning, s.replicatedDesired, s.running, s.desired], [8, 9, 13, 14]);
  t.deepEqual(s.short, ['web 5/6']);
  t.deepEqual(s.services, [
    { name: 'api', global: false, wholeSince: 4000 },
    { name: 'web', global: false, wholeSince: null },
    { name: 'agentd', global: true, wholeSince: 3000 },
  ], 'since when each is whole, in ms since the start');
});

test('a sample the managers did not answer is short, not whole', (t) => {
  t.deepEqual(measure([at(1500, 0, false), at(2000, 0, false), at(4000, 10)]), [3000]);
  t.deepEqual(measure([at(1500, 10), at(2000, 0, false), at(2500, 10)]), [1500]);
});

test('never whole again: null', (t) => {
  t.deepEqual(measure([at(2000, 8), at(3000, 9), at(4000, 0, false)]), [null]);
});

test("a dip that begins in a fault's window is that fault's, even after the next fault began", (t) => {
  // A host killed at 3 s, found dead at 4.1 s, a rolling update (allowed no dip) at 4 s.
  t.deepEqual(measure([at(3500, 10), at(4100, 8), at(5500, 8), at(6000, 10)], [fault(3000), fault(4000, 0)]), [3000, 0]);
});

test('a dip no window covers is the latest fault\'s: a fault that gives back and is allowed none is charged with it', (t) => {
  t.deepEqual(measure([at(2000, 10), at(7000, 9), at(7500, 10)], [fault(1000), fault(6000, 0)]), [0, 1500]);
});

test('a dip under way at the next fault stays with the fault that began it', (t) => {
  t.deepEqual(measure([at(1500, 8), at(2500, 8), at(3000, 10)], [fault(1000), fault(2000, 0)]), [2000, 0]);
});

const req = (at: number, host: string, ok = false, ms = 5) => ({ at, ms, host, ok });
const hostKilled = { at: 3000, doneAt: 3000, mostMs: 3000, addr: 'h2' };
const hostBack = { at: 15000, doneAt: 15000, mostMs: 0, addr: 'h2' };

test('published port: a failure on the host a fault is done to, or within a fault window, is allowed', (t) => {
  t.deepEqual(failedOutsideFaults([req(2500, 'h2'), req(3500, 'h3'), req(5900, 'h1'), req(17000, 'h2'), req(10000, 'h1', true)], [hostKilled, hostBack]), []);
});

test('published port: a failure elsewhere, before a fault or past its window, is a violation', (t) => {
  const v = failedOutsideFaults([req(2500, 'h3'), req(6100, 'h1'), req(15500, 'h3')], [hostKilled, hostBack]);
  t.is(v.length, 1);
  t.regex(v[0]!.detail, /^3 requests failed outside a fault's window \(2\.5s h3, 6\.1s h1, 15\.5s h3\)$/);
});

test('published port: a request in flight when a fault began is within its window (its backend may be the host that died)', (t) => {
  t.deepEqual(failedOutsideFaults([req(2990, 'h3', false, 1000)], [hostKilled]), []);
  t.is(failedOutsideFaults([req(2990, 'h3', false, 5)], [hostKilled]).length, 1, 'one that had ended before it was not');
});

test('a service is whole since the task that brought it to its count began to run', async (t) => {
  const task = (id: string, ms: number) => Task.fromPartial({ id, serviceId: 's1', nodeId: 'n1', desiredState: TaskState.RUNNING, status: { state: TaskState.RUNNING, timestamp: new Date(ms) } });
  let tasks = [task('a', 1000), task('b', 2000)];
  const ctl = {
    listServices: async () => ({ services: [{ service: Service.fromPartial({ id: 's1', spec: { name: 'api', replicas: 2 } }), running: 2, desired: 2 }] }),
    listTasks: async () => ({ tasks }),
    listNodes: async () => ({ nodes: [Node.fromPartial({ id: 'n1', state: NodeState.NODE_READY })] }),
  } as unknown as Control;
  t.is((await convergence(ctl))[0]!.wholeSince, 2000);
  tasks = [task('a', 1000), task('b', 2000), task('c', 3000)];
  t.is((await convergence(ctl))[0]!.wholeSince, 2000, 'a spare task (a start-first update) does not move it');
  tasks = [task('c', 3000), task('a', 1000)];
  t.is((await convergence(ctl))[0]!.wholeSince, 3000, 'b replaced by c');
  tasks = [task('a', 1000)];
  t.is((await convergence(ctl))[0]!.wholeSince, null, 'short');
});

test("a step of the wall clock is seen between two readings, and wall times are placed on the run's clock by the offset in force when they were stamped", (t) => {
  let mono = 100;
  let wall = 1_000_000;
  const clock = new RunClock({ mono: () => mono, wall: () => wall });
  const tick = (ms: number, step = 0) => {
    mono += ms;
    wall += ms + step;
    clock.read();
  };
  tick(250);
  tick(250, 300); // drift under the threshold: no step
  t.deepEqual(clock.steps, []);
  const before = wall; // stamped on the wall clock just before the step
  tick(250, 6400);
  t.deepEqual(clock.steps, [{ at: 750, ms: 6400 }], 'the step alone, not the drift before it');
  t.is(clock.toRun(wall), 750, 'a time stamped after the step');
  t.is(clock.toRun(before), 500, 'a time stamped before it');
  tick(250);
  t.is(clock.toRun(wall - 100), 900);
});
