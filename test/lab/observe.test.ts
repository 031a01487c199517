// Seeing what runs, on a real 3-host lab with two managers: `orch service
// logs` read from the engines that ran the tasks (prefixes, --tail, --since,
// stderr apart, one task, through a follower), following a replacement,
// a killed host named in one line while the others' lines still come;
// `orch node ps`; Docker's filters and quiet modes, and each manager's
// standing in `node ls`; `orch events` in order, through a follower, replayed
// with --since and resumed on another manager after a cut.
import { spawn, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { chromium, type Page } from 'playwright-core';
import { TaskState } from '../../proto/generated/orch.js';
import { LabCluster } from '../../lab/lab-cluster.js';
import { AGENT_METRICS_PORT, labAdminDir, MANAGER_METRICS_PORT } from '../../lab/state.js';
import { MAIN, runOrch } from '../../lab/run.js';
import { shortId } from '../../shared/ids.js';
import { reportLogsOnFailure } from '../helpers/lab.js';

let lab: LabCluster;
reportLogsOnFailure(test, () => lab);

test.before(async () => {
  lab = await LabCluster.up({ name: 'tlogs', index: 240, hosts: 3, managers: 2 });
});

test.after.always(async () => {
  await lab?.down();
});

/** Each replica writes 20 lines to stdout and 20 to stderr, interleaved, then waits. */
const TALK = 'trap "exit 0" TERM; i=0; while [ $i -lt 20 ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done; sleep 2147483647 & wait';

/** The prefix `service logs` puts before a task's lines, from `service ps`. */
async function prefixes(service: string): Promise<Map<string, string>> {
  const hosts = await lab.hostnames();
  const running = (await lab.tasks(service)).filter((t) => t.status?.state === TaskState.RUNNING);
  return new Map(running.map((t) => [t.id, `${service}.${t.slot}.${shortId(t.id)}@${hosts.get(t.nodeId)}`]));
}

/** Lines grouped by their prefix (the text before "|", trimmed). */
function byPrefix(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split('\n').filter(Boolean)) {
    const bar = line.indexOf('|');
    const key = line.slice(0, bar).trim();
    out.set(key, [...(out.get(key) ?? []), line.slice(bar + 1).trim()]);
  }
  return out;
}

const expected = (kind: string, from = 0) => Array.from({ length: 20 - from }, (_, i) => `${kind} ${i + from}`);

test.serial('service logs: every replica with its prefix, stdout and stderr apart; --tail per task; --since cuts; --raw, -t and one task by name', async (t) => {
  await lab.ok('service', 'create', '--name', 'talk', '--replicas', '3', '--stop-grace-period', '1s', 'orch-test/sleep', 'sh', '-c', TALK);
  const names = await prefixes('talk');
  t.is(names.size, 3);
  await lab.waitFor(async () => (await lab.orch('service', 'logs', 'talk')).stdout.split('\n').filter(Boolean).length === 60, 10_000, 'every line written');
  const all = await lab.orch('service', 'logs', 'talk');
  t.is(all.code, 0, all.stderr);
  const out = byPrefix(all.stdout);
  const err = byPrefix(all.stderr);
  t.deepEqual([...out.keys()].sort(), [...names.values()].sort(), 'one prefix per replica: service.slot.task@host');
  for (const name of names.values()) {
    t.deepEqual(out.get(name), expected('out'), `${name}: its stdout, in order`);
    t.deepEqual(err.get(name), expected('err'), `${name}: its stderr, on stderr`);
  }

  const tail = await lab.orch('service', 'logs', '--tail', '5', 'talk');
  // Five per task, the newest of each stream (the engine logs the two streams as they come, so the mix varies).
  for (const name of names.values()) {
    const outs = byPrefix(tail.stdout).get(name) ?? [];
    const errs = byPrefix(tail.stderr).get(name) ?? [];
    t.is(outs.length + errs.length, 5, `${name}: five lines`);
    t.deepEqual(outs, expected('out', 20 - outs.length), `${name}: the last of its stdout`);
    t.deepEqual(errs, expected('err', 20 - errs.length), `${name}: the last of its stderr`);
  }

  const later = await lab.orch('service', 'logs', '--since', new Date(Date.now() + 1000).toISOString(), 'talk');
  t.is(later.code, 0, later.stderr);
  t.is(later.stdout + later.stderr, '', 'nothing was written after the time given');
  t.is((await lab.orch('service', 'logs', '--since', '10m', 'talk')).stdout.split('\n').filter(Boolean).length, 60);

  t.deepEqual((await lab.ok('service', 'logs', '--raw', 'talk.2')).split('\n').filter(Boolean), expected('out'), '--raw: the lines alone');
  const stamped = (await lab.ok('service', 'logs', '-t', '--no-task-ids', 'talk.2')).split('\n').filter(Boolean);
  t.is(stamped.length, 20);
  for (const line of stamped) t.regex(line, /^talk\.2@h\d\s+\| \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z out \d+$/);

  const one = await lab.ok('service', 'logs', 'talk.2');
  t.deepEqual([...byPrefix(one).keys()], [[...names.values()].find((n) => n.startsWith('talk.2.'))]);
});

test.serial('service logs through a follower manager gives the same lines', async (t) => {
  const follower = await followerAddr();
  const r = await runOrch({ ORCH_MANAGER: follower, ORCH_TLS_DIR: labAdminDir(lab.state) }, ['service', 'logs', 'talk']);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout.split('\n').filter(Boolean).length, 60);
  t.is(r.stderr.split('\n').filter(Boolean).length, 60);
});

test.serial('service logs -f goes on with the replacement of a task that died', async (t) => {
  t.timeout(60_000);
  const follow = spawn(process.execPath, [MAIN, 'service', 'logs', '-f', '--tail', '0', 'talk'], {
    env: { ...process.env, ORCH_MANAGER: lab.state.managers.join(','), ORCH_TLS_DIR: labAdminDir(lab.state) },
  });
  let text = '';
  follow.stdout.on('data', (d) => (text += d));
  try {
    const before = await prefixes('talk');
    await new Promise((r) => setTimeout(r, 1500));
    const [victim] = (await lab.tasks('talk')).filter((x) => x.status?.state === TaskState.RUNNING && x.slot === 1);
    const host = (await lab.hostnames()).get(victim!.nodeId)!;
    await lab.engine(host).getContainer(victim!.status!.containerId).kill();
    await lab.waitFor(async () => [...(await prefixes('talk')).keys()].some((id) => !before.has(id)), 20_000, 'a replacement runs');
    const fresh = [...(await prefixes('talk')).entries()].find(([id]) => !before.has(id))![1];
    await lab.waitFor(async () => (byPrefix(text).get(fresh) ?? []).length === 20, 10_000, `the replacement's lines in the followed output (${fresh})`);
    t.deepEqual(byPrefix(text).get(fresh), expected('out'));
    t.is(follow.exitCode, null, 'still following');
  } finally {
    follow.kill('SIGINT');
  }
});

test.serial('node ps lists the tasks of one node only', async (t) => {
  const hosts = await lab.hostnames();
  const tasks = (await lab.tasks('talk')).filter((x) => x.nodeId);
  const h2 = lab.nodeId('h2');
  const listed = JSON.parse(await lab.ok('node', 'ps', 'h2', '--format', 'json')) as Array<{ id: string; nodeId: string }>;
  t.deepEqual(listed.map((x) => x.id).sort(), tasks.filter((x) => x.nodeId === h2).map((x) => x.id).sort());
  t.true(listed.every((x) => x.nodeId === h2));
  t.regex(await lab.ok('node', 'ps', 'h2'), new RegExp(`talk\\.\\d\\s.*${hosts.get(h2)}`));
});

test.serial("filters and quiet modes in Docker's spelling; node ls shows each manager's standing", async (t) => {
  await lab.ok('service', 'create', '--name', 'edge', '--mode', 'global', '--label', 'tier=edge', '--stop-grace-period', '1s', 'orch-test/sleep');
  const lines = (text: string) => text.split('\n').filter(Boolean);
  const ids = new Map((JSON.parse(await lab.ok('service', 'ls', '--format', 'json')) as Array<{ id: string; spec: { name: string } }>).map((x) => [x.spec.name, x.id.slice(0, 12)]));
  t.deepEqual(lines(await lab.ok('service', 'ls', '-q')).sort(), [...ids.values()].sort());
  t.deepEqual(lines(await lab.ok('service', 'ls', '-q', '--filter', 'mode=global')), [ids.get('edge')]);
  t.deepEqual(lines(await lab.ok('service', 'ls', '-q', '--filter', 'label=tier=edge')), [ids.get('edge')]);
  t.deepEqual(lines(await lab.ok('service', 'ls', '-q', '--filter', 'label=tier=core')), []);
  t.deepEqual(lines(await lab.ok('service', 'ls', '-q', '--filter', 'name=ta', '--filter', 'name=ed')).sort(), [ids.get('talk'), ids.get('edge')].sort());

  const tasks = await lab.tasks('talk');
  const running = tasks.filter((x) => x.desiredState === TaskState.RUNNING);
  t.deepEqual(lines(await lab.ok('service', 'ps', '-q', '--no-trunc', '--filter', 'desired-state=running', 'talk')).sort(), running.map((x) => x.id).sort());
  t.deepEqual(lines(await lab.ok('service', 'ps', '-q', '--filter', 'desired-state=shutdown', 'talk')).sort(), tasks.filter((x) => x.desiredState > TaskState.RUNNING).map((x) => x.id.slice(0, 12)).sort());
  const h2 = lab.nodeId('h2');
  t.deepEqual(lines(await lab.ok('service', 'ps', '-q', '--filter', 'node=h2', 'talk')).sort(), tasks.filter((x) => x.nodeId === h2).map((x) => x.id.slice(0, 12)).sort());

  const managers = lab.state.hosts.filter((h) => h.manager).map((h) => lab.nodeId(h.name).slice(0, 12));
  t.deepEqual(lines(await lab.ok('node', 'ls', '-q', '--filter', 'role=manager')).sort(), managers.sort());
  t.is(lines(await lab.ok('node', 'ls', '-q', '--filter', 'role=worker')).length, 1);
  const table = await lab.ok('node', 'ls');
  t.regex(table, /MANAGER STATUS/);
  t.is(table.match(/\bLeader\b/g)?.length, 1, table);
  t.is(table.match(/\bReachable\b/g)?.length, 1, table);
  t.regex(table, new RegExp(`${await lab.leaderHost()}\\s+Ready\\s+Active\\s+Leader`));
});

test.serial('bad input: one line, exit 1', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['service', 'logs', '--tail', '-1', 'talk'], /--tail: "-1" is not a number of lines/],
    [['service', 'logs', '--since', 'yesterday-ish', 'talk'], /--since: "yesterday-ish" is not a time/],
    [['service', 'logs', 'nosuch'], /no service or task "nosuch"/],
    [['node', 'ps', 'nosuch'], /node "nosuch" not found/],
    [['service', 'ls', '--filter', 'colour=red'], /--filter: unknown key "colour"; use name, id, label, mode/],
    [['service', 'ls', '--filter', 'mode=sometimes'], /--filter: mode "sometimes" is not one of replicated, global/],
    [['service', 'ps', '--filter', 'desired-state=maybe', 'talk'], /--filter: desired-state "maybe" is not one of running, shutdown, accepted/],
    [['node', 'ls', '--filter', 'role'], /--filter: "role" is not KEY=VALUE/],
    [['events', '--filter', 'type=weather'], /--filter: type "weather" is not one of service, task, node, network, secret, config/],
    [['events', '--since', 'soon'], /--since: "soon" is not a time/],
  ];
  for (const [args, why] of cases) {
    const r = await lab.orch(...args);
    t.is(r.code, 1, args.join(' '));
    t.regex(r.stderr, why);
    t.is(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  }
});

/** `orch events --format json` running through `managers`, until stopped. */
function listen(managers: string, ...filters: string[]) {
  const p = spawn(process.execPath, [MAIN, 'events', '--format', 'json', ...filters.flatMap((x) => ['--filter', x])], { env: { ...process.env, ORCH_MANAGER: managers, ORCH_TLS_DIR: labAdminDir(lab.state) } });
  let text = '';
  let err = '';
  p.stdout.on('data', (d) => (text += d));
  p.stderr.on('data', (d) => (err += d));
  const events = () => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Ev);
  return {
    events,
    stderr: () => err,
    freeze: (frozen: boolean) => p.kill(frozen ? 'SIGSTOP' : 'SIGCONT'),
    stop: async () => {
      p.kill('SIGINT');
      await new Promise((r) => p.once('close', r));
      return events();
    },
  };
}

interface Ev {
  type: string;
  action: string;
  id: string;
  name: string;
  attributes?: Record<string, string>;
  revision: string;
  index?: number;
}
const key = (e: Ev) => `${e.revision}.${e.index ?? 0}`;
const cmp = (a: Ev, b: Ev) => Number(BigInt(a.revision) - BigInt(b.revision)) || (a.index ?? 0) - (b.index ?? 0);

test.serial('events: a create and scales in order, the same through a follower, kept ones replayed with --since; a cut connection resumes on another manager with nothing missed or repeated', async (t) => {
  t.timeout(120_000);
  const follower = await followerAddr();
  const leader = lab.state.managers.find((m) => m !== follower)!;
  const followerHost = lab.state.hosts.find((h) => follower.startsWith(`${h.addr}:`))!.name;
  const a = listen(leader);
  const b = listen(`${follower},${leader}`);
  await new Promise((r) => setTimeout(r, 1000));
  await lab.ok('service', 'create', '--name', 'ev', '--replicas', '2', '--stop-grace-period', '1s', 'orch-test/sleep');
  await lab.ok('service', 'scale', 'ev=3');

  // What both managers kept, replayed: the same events, numbered alike.
  const replay = async (manager: string) =>
    (await runOrch({ ORCH_MANAGER: manager, ORCH_TLS_DIR: labAdminDir(lab.state) }, ['events', '--since', '10m', '--until', '0s', '--filter', 'type=service', '--format', 'json'])).stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Ev);
  const kept = await replay(leader);
  t.deepEqual(kept.filter((e) => e.name === 'ev').map((e) => [e.action, e.attributes?.['replicas.new']]), [['create', undefined], ['update', '3']], 'the creation and the scale, in order');
  t.deepEqual((await replay(follower)).map(key), kept.map(key), 'the follower kept the same events');

  // The follower's manager dies under b, and the scale to 4 happens while b cannot read (frozen):
  // only a resume after its last event can bring those to it.
  b.freeze(true);
  await lab.signal(followerHost, 'manager', 'SIGKILL');
  await lab.ok('service', 'scale', 'ev=4');
  b.freeze(false);
  await lab.waitFor(async () => /resuming after the last event/.test(b.stderr()), 10_000, 'b resumes');
  await lab.startDaemon(followerHost, 'manager');
  await lab.ok('service', 'scale', 'ev=5');
  await new Promise((r) => setTimeout(r, 1000));
  const [all, resumed] = [await a.stop(), await b.stop()];

  const ev = all.filter((e) => e.type === 'service' && e.name === 'ev');
  t.is(ev[0]?.action, 'create');
  t.deepEqual(ev.filter((e) => e.attributes?.['replicas.new']).map((e) => e.attributes!['replicas.new']), ['3', '4', '5'], 'each scale, in order');
  t.true(all.filter((e) => e.type === 'task' && e.action === 'running' && e.attributes?.service === 'ev').length >= 5, 'tasks running');
  t.deepEqual([...all].sort(cmp).map(key), all.map(key), 'in etcd order');
  t.is(new Set(resumed.map(key)).size, resumed.length, 'nothing twice');
  const from = resumed[0]!;
  const to = resumed.at(-1)!;
  t.deepEqual(resumed.map(key), all.filter((e) => cmp(e, from) >= 0 && cmp(e, to) <= 0).map(key), 'nothing missed across the cut');
  t.true(resumed.some((e) => e.attributes?.['replicas.new'] === '4') && resumed.some((e) => e.attributes?.['replicas.new'] === '5'), 'it went on after the cut');
});

/** A metrics page, checked by Prometheus' own linter (promtool); its samples by name and labels. */
async function scrape(t: ExecutionContext, host: string, port: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://${lab.host(host).addr}:${port}/metrics`)).text();
  const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  t.is(check.status, 0, `promtool check metrics (${host}:${port}): ${check.stdout}${check.stderr}`);
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(\w+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

test.serial('metrics: the manager and the agent pages pass promtool, and their numbers follow the cluster', async (t) => {
  const leader = (await lab.leaderHost())!;
  const before = await scrape(t, 'h2', AGENT_METRICS_PORT);
  const m = await scrape(t, leader, MANAGER_METRICS_PORT);
  t.is(m.get('orch_leader'), 1);
  t.is(m.get('orch_tasks{state="running"}'), (await lab.tasks('talk')).concat(await lab.tasks('edge'), await lab.tasks('ev')).filter((x) => x.status?.state === TaskState.RUNNING).length);
  t.is(m.get('orch_nodes{state="ready"}'), 3);
  for (const name of ['orch_etcd_request_seconds_count{op="txn"}', 'orch_scheduler_placements_total{result="placed"}', 'orch_task_start_seconds_count', 'orch_reconcile_seconds_count{loop="leader"}']) t.true((m.get(name) ?? 0) > 0, `${name} on the leader: ${m.get(name)}`);
  t.true((before.get('orch_agent_heartbeat_rtt_seconds_count') ?? 0) > 0, 'heartbeats timed on h2');
  const follower = lab.state.hosts.find((h) => h.manager && h.name !== leader)!.name;
  t.is((await scrape(t, follower, MANAGER_METRICS_PORT)).get('orch_leader'), 0);

  await lab.ok('service', 'scale', 'ev=8');
  const after = await scrape(t, 'h2', AGENT_METRICS_PORT);
  const running = (x: Map<string, number>) => x.get('orch_agent_task_transitions_total{state="running"}') ?? 0;
  t.true(running(after) > running(before), `tasks started on h2: ${running(before)} → ${running(after)}`);
});

/** The dashboard in headless Chromium (Debian's, driven by playwright-core), with every console error kept. */
async function openDashboard(url: string) {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors: string[] = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(url);
  await page.locator('#live.on').waitFor({ timeout: 10_000 });
  return { browser, page, errors };
}

/** Hostname → the ids of the tasks the page shows in that node's column. */
async function columns(page: Page, service: string): Promise<Map<string, string[]>> {
  const pairs = await page.$$eval(`.node button.task[data-service="${service}"].running`, (bs) => bs.map((b) => [b.closest('.node')!.getAttribute('data-node')!, b.getAttribute('data-task')!]));
  const out = new Map<string, string[]>();
  for (const [node, task] of pairs) out.set(node!, [...(out.get(node!) ?? []), task!].sort());
  return out;
}

/** Hostname → the ids of the service's running tasks, as the managers say. */
async function placed(service: string): Promise<Map<string, string[]>> {
  const hosts = await lab.hostnames();
  const out = new Map<string, string[]>();
  for (const x of (await lab.tasks(service)).filter((x) => x.status?.state === TaskState.RUNNING)) out.set(hosts.get(x.nodeId)!, [...(out.get(hosts.get(x.nodeId)!) ?? []), x.id].sort());
  return out;
}

// Last: it kills a host.
test.serial('with a host killed, service logs returns within seconds, names the task it cannot read, and shows the others; the dashboard shows it live', async (t) => {
  t.timeout(120_000);
  const url = (await lab.ok('dashboard')).trim();
  t.regex(url, /^http:\/\/198\.18\.\d+\.\d+:4280\/\?token=[0-9a-f]{32}$/, 'off loopback, with its token');
  t.is((await fetch(url.replace(/\?token=.*/, 'api/state'))).status, 401, 'no token: refused');
  const { browser, page, errors } = await openDashboard(url);
  try {
    // Timed from the CLI's return (the service is committed then), not from its
    // spawn: starting a CLI process on a loaded host is not the page's time.
    await lab.ok('service', 'create', '--detach', '--name', 'dash', '--replicas', '3', '--stop-grace-period', '1s', 'orch-test/sleep');
    const returned = Date.now();
    await page.locator('#services tr[data-service="dash"]').waitFor({ timeout: 5000 });
    const shown = Date.now() - returned;
    t.true(shown < 1000, `the new service on the page ${shown} ms after the CLI returned`);
    await lab.waitFor(async () => (await placed('dash')).size > 0 && [...(await placed('dash')).values()].flat().length === 3, 30_000, 'dash running');
    await lab.waitFor(async () => JSON.stringify([...(await columns(page, 'dash'))].sort()) === JSON.stringify([...(await placed('dash'))].sort()), 5000, 'its tasks in the right node columns');
    await page.locator('button.task[data-service="talk"].running').first().click();
    await page.locator('#logs-text', { hasText: 'out 19' }).waitFor({ timeout: 5000 });
    await page.screenshot({ path: join(tmpdir(), 'orch-dashboard.png') });
    await scenario(t, page);
    t.deepEqual(errors, [], 'no console error');
  } finally {
    await browser.close();
  }
});

async function scenario(t: ExecutionContext, page: Page): Promise<void> {
  const hosts = await lab.hostnames();
  const running = (await lab.tasks('talk')).filter((x) => x.status?.state === TaskState.RUNNING);
  const managerHosts = new Set(lab.state.hosts.filter((h) => h.manager).map((h) => h.name));
  const victim = running.find((x) => !managerHosts.has(hosts.get(x.nodeId)!)) ?? running.find((x) => hosts.get(x.nodeId) !== 'h1')!;
  const victimHost = hosts.get(victim.nodeId)!;
  const events = listen(lab.state.managers.join(','), 'type=node', 'type=task', 'name=talk.' + victim.slot, `name=${victimHost}`);
  await new Promise((r) => setTimeout(r, 1000));
  await lab.kill(victimHost);
  const started = Date.now();
  const r = await lab.orch('service', 'logs', 'talk');
  const took = Date.now() - started;
  t.is(r.code, 0, r.stderr);
  t.true(took < 5000, `returned in ${took} ms`);
  t.regex(r.stderr, new RegExp(`^talk\\.${victim.slot}\\.${shortId(victim.id)} on ${victimHost}: logs unavailable, `, 'm'));
  const others = running.filter((x) => x.nodeId !== victim.nodeId);
  for (const o of others) t.deepEqual(byPrefix(r.stdout).get(`talk.${o.slot}.${shortId(o.id)}@${hosts.get(o.nodeId)}`), expected('out'));

  // The events say it: the node went down, then its task's slot ran elsewhere.
  await lab.waitFor(async () => events.events().some((e) => e.type === 'task' && e.action === 'running' && e.id !== victim.id), 20_000, 'a replacement running, in the events');
  const seen = await events.stop();
  const down = seen.findIndex((e) => e.type === 'node' && e.name === victimHost && e.attributes?.['state.new'] === 'down');
  const replaced = seen.findIndex((e) => e.type === 'task' && e.action === 'running' && e.id !== victim.id && e.attributes?.node !== victimHost);
  t.true(down >= 0, `node ${victimHost} down in the events: ${JSON.stringify(seen)}`);
  t.true(replaced > down, 'the replacement runs after');
  const m = await scrape(t, (await lab.leaderHost())!, MANAGER_METRICS_PORT);
  t.is(m.get('orch_nodes{state="down"}'), 1, 'the metrics count it down');
  t.true((m.get('orch_nodes_down_total') ?? 0) >= 1);

  // The page: the host's column down, and every dash task running in a live node's column.
  await page.locator(`.node.down[data-node="${victimHost}"]`).waitFor({ timeout: 10_000 });
  await lab.waitFor(async () => [...(await placed('dash')).values()].flat().length === 3 && !(await placed('dash')).has(victimHost), 30_000, 'dash whole again elsewhere');
  await lab.waitFor(async () => JSON.stringify([...(await columns(page, 'dash'))].sort()) === JSON.stringify([...(await placed('dash'))].sort()), 5000, 'the page shows the tasks where they run now');
  await page.screenshot({ path: join(tmpdir(), 'orch-dashboard-down.png') });
  t.log(`screenshots: ${join(tmpdir(), 'orch-dashboard.png')}, ${join(tmpdir(), 'orch-dashboard-down.png')}`);
}

async function followerAddr(): Promise<string> {
  const leader = await lab.leaderHost();
  const h = lab.state.hosts.find((x) => x.manager && x.name !== leader)!;
  return lab.state.managers.find((m) => m.startsWith(`${h.addr}:`))!;
}
