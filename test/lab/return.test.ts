// A host that comes back disturbs nothing (issue 18): its agent restarted,
// away for a slow restart, or away past the restart grace, or its dockerd
// restarted, while it runs 4 replicas of a healthy 12-replica service.
// Sampled every 100 ms, on the engines (running containers of the service)
// and as the managers count (running tasks on ready nodes): never fewer than
// 12 on the engines; within the grace, and through an engine restart
// (live-restore), never fewer as the managers count and the same tasks.
import test, { type ExecutionContext } from 'ava';
import { TaskState } from '../../proto/generated/orch.js';
import { convergence } from '../../chaos/invariants.js';
import type { Control } from '../../client/control.js';
import { LabCluster } from '../../lab/lab-cluster.js';
import { reportLogsOnFailure } from '../helpers/lab.js';

let lab: LabCluster;
reportLogsOnFailure(test, () => lab);
const REPLICAS = 12;

test.before(async () => {
  lab = await LabCluster.up({ name: 'treturn', index: 233, hosts: 3, managers: 1 });
  await lab.ok('service', 'create', '--name', 'steady', '--replicas', String(REPLICAS), '--stop-grace-period', '1s', '--health-cmd', 'wget -qO- http://127.0.0.1/', '--health-interval', '500ms', 'orch-test/httpd');
  await spread();
});

/** 4 healthy replicas on each host (a test before may have moved h3's away, rightly). */
async function spread(): Promise<void> {
  await lab.ok('service', 'update', 'steady', '--rebalance');
  await lab.waitFor(async () => {
    const p = await lab.placement('steady');
    return p.h1 === 4 && p.h2 === 4 && p.h3 === 4 && (await healthy()) === REPLICAS && (await onEngines()) === REPLICAS;
  }, 30_000, 'steady whole and healthy, 4 per host');
}

test.after.always(async () => {
  await lab?.down();
});

/** Running containers of the service over every live engine. */
async function onEngines(): Promise<number> {
  return Object.values(await lab.running('steady')).reduce((n, l) => n + l.length, 0);
}

async function healthy(): Promise<number> {
  return (await lab.tasks('steady')).filter((t) => t.desiredState === TaskState.RUNNING && t.status?.state === TaskState.RUNNING && t.status.health === 'healthy').length;
}

async function runningTasks(): Promise<string[]> {
  return (await lab.tasks('steady')).filter((t) => t.desiredState === TaskState.RUNNING && t.status?.state === TaskState.RUNNING).map((t) => t.id).sort();
}

/** Running tasks on ready nodes, as the managers count them: the chaos harness's measure. */
async function managersCount(ctl: Control): Promise<number> {
  return (await convergence(ctl)).find((s) => s.name === 'steady')?.running ?? 0;
}

interface Low {
  min: number;
  at: number;
}

/** Samples every 100 ms while `during` runs and for `afterMs` more: the fewest running on the engines, and as the managers count. */
async function sampled(during: () => Promise<void>, afterMs: number): Promise<{ engines: Low; managers: Low; samples: number }> {
  const engines = { min: Infinity, at: 0 };
  const managers = { min: Infinity, at: 0 };
  let samples = 0;
  let on = true;
  const ctl = lab.control();
  const t0 = Date.now();
  const low = (l: Low, n: number) => {
    if (n >= 0 && n < l.min) [l.min, l.at] = [n, Date.now() - t0];
  };
  const loop = (async () => {
    while (on) {
      const [e, m] = await Promise.all([onEngines().catch(() => -1), managersCount(ctl).catch(() => -1)]);
      low(engines, e);
      low(managers, m);
      samples++;
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  try {
    await during();
    await new Promise((r) => setTimeout(r, afterMs));
  } finally {
    on = false;
    await loop;
    ctl.close();
  }
  return { engines, managers, samples };
}

/** The agent of h3 away for `awayMs` (SIGKILLed, then started again): never short on the engines, nor as the managers count; the same tasks before and after. */
async function agentAwayChangesNothing(t: ExecutionContext, awayMs: number): Promise<void> {
  await spread();
  const before = await runningTasks();
  t.is(before.length, REPLICAS);
  const r = await sampled(async () => {
    await lab.signal('h3', 'agent', 'SIGKILL');
    await new Promise((res) => setTimeout(res, awayMs));
    await lab.restartAgent('h3');
  }, 8000);
  t.log(`fewest running: ${r.engines.min} on the engines (+${r.engines.at} ms), ${r.managers.min} as the managers count (+${r.managers.at} ms); ${r.samples} samples`);
  t.is(r.engines.min, REPLICAS, 'never short on the engines');
  t.is(r.managers.min, REPLICAS, 'never short as the managers count');
  t.deepEqual(await runningTasks(), before, 'nothing stopped or moved');
}

// A closed session means the host's kernel is alive and only its agent
// stopped: the node keeps its tasks for the restart grace (5 s).
test.serial('an agent restarted on a host with 4 of 12 replicas: no replica short at any sample, nothing moves', (t) => agentAwayChangesNothing(t, 0));

// Away 2 s, then its start (about 2 s on this loaded lab) and registration: within the 5 s grace with a margin.
test.serial('an agent away for 2 s (a slow restart, within the restart grace): no replica short at any sample, nothing moves', (t) => agentAwayChangesNothing(t, 2000));

test.serial('an agent away for 7 s (past the restart grace) on a host with 4 of 12 replicas: its tasks are replaced, no replica short on the engines, no slot twice once settled', async (t) => {
  await spread();
  const before = await runningTasks();
  const r = await sampled(async () => {
    await lab.signal('h3', 'agent', 'SIGKILL');
    await new Promise((res) => setTimeout(res, 7000));
    await lab.restartAgent('h3');
  }, 8000);
  t.log(`fewest running: ${r.engines.min} on the engines (+${r.engines.at} ms), ${r.managers.min} as the managers count (+${r.managers.at} ms); ${r.samples} samples`);
  t.is(r.engines.min, REPLICAS, 'never short on the engines');
  await lab.waitFor(async () => (await onEngines()) === REPLICAS, 20_000, 'no slot runs twice once settled');
  const after = await runningTasks();
  t.is(after.length, REPLICAS);
  t.true(after.filter((id) => before.includes(id)).length <= REPLICAS - 4, "h3's 4 tasks were replaced");
});

test.serial('dockerd killed and restarted (live-restore) on a host with 4 of 12 replicas: the same containers run throughout, none short', async (t) => {
  await spread();
  const before = await runningTasks();
  const containers = (await lab.containers('h3', 'steady')).map((c) => c.Id).sort();
  t.is(containers.length, 4);
  const r = await sampled(async () => {
    await lab.signal('h3', 'dockerd', 'SIGKILL');
    await new Promise((res) => setTimeout(res, 2000));
    await lab.startDaemon('h3', 'dockerd');
  }, 8000);
  t.log(`fewest running: ${r.engines.min} on the engines (+${r.engines.at} ms), ${r.managers.min} as the managers count (+${r.managers.at} ms); ${r.samples} samples`);
  t.deepEqual((await lab.containers('h3', 'steady')).map((c) => c.Id).sort(), containers, "h3's containers are the ones it ran before");
  t.is(r.managers.min, REPLICAS, 'never short as the managers count');
  t.deepEqual(await runningTasks(), before, 'nothing stopped or moved');
});
