// The manager's Prometheus metrics (prom-client), named as Prometheus would
// have them: counters end in _total, durations are histograms in _seconds.
// Counters and histograms are the process's; the gauges are read off the
// mirror at each scrape (managerRegistry).
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { nodeStateToJSON, TaskState } from '../proto/generated/orch.js';
import { stateName } from '../shared/states.js';
import type { Cache, ObjectChange } from './store/index.js';

const process = new Registry();
const registers = [process];
/** Buckets from 5 ms to 30 s: etcd requests, passes, and a task's way to running. */
const buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export const managerMetrics = {
  elections: new Counter({ name: 'orch_leader_elections_total', help: 'Elections this manager won', registers }),
  placements: new Counter({ name: 'orch_scheduler_placements_total', help: 'Tasks the scheduler placed, or could not place (result)', labelNames: ['result'], registers }),
  schedulingLatency: new Histogram({ name: 'orch_scheduling_latency_seconds', help: 'From a task made to a node chosen for it', buckets, registers }),
  taskStart: new Histogram({ name: 'orch_task_start_seconds', help: 'From a task made to its container running (observed by the leader)', buckets, registers }),
  etcdRequests: new Histogram({ name: 'orch_etcd_request_seconds', help: 'etcd requests (op: read or txn)', labelNames: ['op'], buckets, registers }),
  etcdErrors: new Counter({ name: 'orch_etcd_errors_total', help: 'etcd requests that failed (op: read or txn)', labelNames: ['op'], registers }),
  reconcile: new Histogram({ name: 'orch_reconcile_seconds', help: 'One pass of a control loop (loop)', labelNames: ['loop'], buckets, registers }),
  heartbeats: new Counter({ name: 'orch_heartbeats_total', help: 'Agent heartbeats the leader received', registers }),
  nodesDown: new Counter({ name: 'orch_nodes_down_total', help: 'Nodes the leader marked down (no heartbeat in time)', registers }),
};

/** The leader's part: what a change in the mirror tells (a task that reached running: how long it took). */
export function observeChange(c: ObjectChange): void {
  if (c.kind !== 'tasks' || !c.next) return;
  const prev = c.prev as { status?: { state: TaskState } } | undefined;
  const next = c.next as { createdAt?: Date; status?: { state: TaskState; timestamp?: Date } };
  if (next.status?.state !== TaskState.RUNNING || (prev?.status?.state ?? 0) >= TaskState.RUNNING || !next.createdAt || !next.status.timestamp) return;
  managerMetrics.taskStart.observe(Math.max(0, next.status.timestamp.getTime() - next.createdAt.getTime()) / 1000);
}

/** One manager's registry: the process's metrics and gauges read off its mirror at each scrape. */
export function managerRegistry(cache: Cache, isLeader: () => boolean): Registry {
  const own = new Registry();
  const registers = [own];
  const count = <T>(values: Iterable<{ value: T }>, label: (v: T) => string) => {
    const out = new Map<string, number>();
    for (const { value } of values) out.set(label(value), (out.get(label(value)) ?? 0) + 1);
    return out;
  };
  new Gauge({
    name: 'orch_tasks',
    help: 'Tasks in the store, by observed state',
    labelNames: ['state'],
    registers,
    collect() {
      this.reset();
      for (const [state, n] of count(cache.tasks.values(), (t) => stateName(t.status?.state ?? TaskState.NEW))) this.set({ state }, n);
    },
  });
  new Gauge({
    name: 'orch_nodes',
    help: 'Nodes, by state',
    labelNames: ['state'],
    registers,
    collect() {
      this.reset();
      for (const [state, n] of count(cache.nodes.values(), (x) => nodeStateToJSON(x.state).replace(/^NODE_/, '').toLowerCase())) this.set({ state }, n);
    },
  });
  new Gauge({
    name: 'orch_services',
    help: 'Services',
    registers,
    collect() {
      this.set(cache.services.size);
    },
  });
  new Gauge({
    name: 'orch_leader',
    help: '1 while this manager leads',
    registers,
    collect() {
      this.set(isLeader() ? 1 : 0);
    },
  });
  return Registry.merge([process, own]);
}
