// The drain: a task that served traffic and is told to stop is shown to its
// own node as still running until every other node has applied a network
// state without it, or the timeout passed.
import test from 'ava';
import { Task, TaskState } from '../../proto/generated/orch.js';
import { Drain, type Peer } from '../../manager/dispatcher/drain.js';

/** A task on n1 that ran ready on a network, now told to shut down. */
function stopping(over: Partial<Task> = {}): Task {
  return Task.fromPartial({
    id: 't1',
    nodeId: 'n1',
    desiredState: TaskState.SHUTDOWN,
    status: { state: TaskState.RUNNING },
    readyAt: new Date(0),
    networks: [{ networkId: 'net', addr: '10.0.0.5/24' }],
    ...over,
  });
}

const peer = (nodeId: string, pushed: number, applied: number): Peer => ({ nodeId, pushed, applied });

test('held while another node has not applied the state without it; released once it has', (t) => {
  const d = new Drain(2000);
  const g = d.nextGeneration();
  const p2 = peer('n2', g, g - 1);
  t.is(d.view(stopping(), [peer('n1', g, 0), p2], 0).desiredState, TaskState.RUNNING);
  t.true(d.waiting);
  d.nextGeneration();
  t.is(d.view(stopping(), [p2], 10).desiredState, TaskState.RUNNING, 'a later push alone does not release it');
  p2.applied = g;
  t.is(d.view(stopping(), [p2], 20).desiredState, TaskState.SHUTDOWN);
  t.false(d.waiting);
});

test('a node whose state did not change (it has applied its last push) does not hold it, nor does the owner', (t) => {
  const d = new Drain(2000);
  d.nextGeneration();
  d.nextGeneration();
  const g = d.nextGeneration();
  t.is(d.view(stopping(), [peer('n1', g, 0), peer('n2', g - 2, g - 2)], 0).desiredState, TaskState.SHUTDOWN);
});

test('a node that does not answer holds it only until the timeout, and is reported once', (t) => {
  const d = new Drain(2000);
  const g = d.nextGeneration();
  const late: string[][] = [];
  const peers = [peer('n2', g, 0), peer('n3', g, g)];
  t.is(d.view(stopping(), peers, 1000, (n) => late.push(n)).desiredState, TaskState.RUNNING);
  t.is(d.view(stopping(), peers, 2999, (n) => late.push(n)).desiredState, TaskState.RUNNING);
  t.is(d.view(stopping(), peers, 3000, (n) => late.push(n)).desiredState, TaskState.SHUTDOWN);
  t.is(d.view(stopping(), peers, 4000, (n) => late.push(n)).desiredState, TaskState.SHUTDOWN);
  t.deepEqual(late, [['n2']]);
});

test('once released, a task is never shown running again, even to a new session that has applied nothing', (t) => {
  const d = new Drain(2000);
  const g = d.nextGeneration();
  t.is(d.view(stopping(), [peer('n2', g, g)], 0).desiredState, TaskState.SHUTDOWN);
  const g2 = d.nextGeneration();
  t.is(d.view(stopping(), [peer('n2', g2, 0)], 10).desiredState, TaskState.SHUTDOWN);
});

test('tasks that cannot be in any pool are never held: never ready, on no network, ended, or still wanted', (t) => {
  const d = new Drain(2000);
  const g = d.nextGeneration();
  const peers = [peer('n2', g, 0)];
  t.is(d.view(stopping({ readyAt: undefined }), peers, 0).desiredState, TaskState.SHUTDOWN);
  t.is(d.view(stopping({ networks: [] }), peers, 0).desiredState, TaskState.SHUTDOWN);
  t.is(d.view(stopping({ status: { state: TaskState.COMPLETE } as Task['status'] }), peers, 0).desiredState, TaskState.SHUTDOWN);
  const wanted = stopping({ desiredState: TaskState.RUNNING });
  t.is(d.view(wanted, peers, 0), wanted);
  t.false(d.waiting);
});

test('tasks gone from the store are forgotten', (t) => {
  const d = new Drain(2000);
  const g = d.nextGeneration();
  d.view(stopping(), [peer('n2', g, 0)], 0);
  t.true(d.waiting);
  d.prune(() => false);
  t.false(d.waiting);
});
