// The lab as a user drives it: `orch lab up` makes its context current (the
// CLI needs no flags), `lab exec` runs on a host, `lab up` over the leftovers
// of a run that died cleans them first, and `lab down` leaves nothing behind
// and restores the previous context.
import { existsSync, mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { sh } from '../../shared/sh.js';
import { stateFile } from '../../lab/state.js';
import { runOrch } from '../../lab/run.js';
import { cgroupDirs } from '../../lab/processes.js';

const NAME = 'tcli';
const config = mkdtempSync(join(tmpdir(), 'orch-cli-config-'));
/** The CLI with no manager given: only the context can point it at the lab. */
const orch = (...args: string[]) => runOrch({ ORCH_MANAGER: undefined, ORCH_CONFIG_DIR: config }, args);

async function labTraces(): Promise<string[]> {
  const traces: string[] = [];
  const ns = (await sh('ip', ['netns', 'list'])).split('\n').filter((l) => l.startsWith(`orch-${NAME}-`));
  traces.push(...ns.map((n) => `netns ${n}`));
  if ((await sh('ip', ['-o', 'link', 'show']).catch(() => '')).includes(`orch-${NAME}:`)) traces.push('bridge');
  if ((await sh('iptables', ['-S', 'FORWARD'])).includes(`orch-${NAME} `)) traces.push('iptables rule');
  for (const h of ['h1', 'h2']) if (cgroupDirs(`orch-${NAME}-${h}`).length) traces.push(`cgroup of ${h}`);
  if (existsSync(stateFile(NAME))) traces.push('state file');
  return traces;
}

test.after.always(async () => {
  await orch('lab', 'down', '--name', NAME);
  rmSync(config, { recursive: true, force: true });
});

test.serial('lab up makes the lab current; lab exec runs on a host; lab down removes everything and restores the context', async (t) => {
  await orch('context', 'use', 'default');
  const up = await orch('lab', 'up', '--name', NAME, '--index', '253', '--hosts', '2');
  t.is(up.code, 0, up.stderr);
  t.regex(up.stdout, /lab tcli up in/);

  const nodes = await orch('node', 'ls');
  t.is(nodes.code, 0, nodes.stderr);
  t.regex(nodes.stdout, /h1 +Ready +Active +Leader +manager/);
  t.regex(nodes.stdout, /h2 +Ready +Active +worker/, 'a worker has no manager status');
  t.regex((await orch('context', 'ls')).stdout, /lab-tcli +198\.18\.253\.11:4242 +\/var\/lib\/orch\/lab\/tcli\/cli\/certs\/orch +\*/);

  const ls = await orch('lab', 'ls', '--name', NAME);
  t.regex(ls.stdout, /h2 +198\.18\.253\.12 +worker +up +dockerd agent/);
  // On h2: its own address, and its own engine (the test images are there).
  const addr = await orch('lab', 'exec', '--name', NAME, 'h2', '--', 'ip', '-o', '-4', 'addr', 'show', 'eth0');
  t.regex(addr.stdout, /198\.18\.253\.12\/24/);
  const images = await orch('lab', 'exec', '--name', NAME, 'h2', '--', 'docker', 'images', '--format', '{{.Repository}}:{{.Tag}}');
  t.deepEqual(images.stdout.trim().split('\n').sort(), ['orch-test/broken:latest', 'orch-test/httpd:2', 'orch-test/httpd:latest', 'orch-test/sleep:latest']);
  const failing = await orch('lab', 'exec', '--name', NAME, 'h2', '--', 'false');
  t.is(failing.code, 1, 'the command\'s exit code is passed on');
  // A container on h2: the lab's traces now include its cgroup (so the check below can see one).
  const run = await orch('lab', 'exec', '--name', NAME, 'h2', '--', 'docker', 'run', '-d', 'orch-test/sleep');
  t.is(run.code, 0, run.stderr);
  t.true((await labTraces()).includes('cgroup of h2'), `traces of a live lab: ${(await labTraces()).join(', ')}`);

  const down = await orch('lab', 'down', '--name', NAME);
  t.is(down.code, 0, down.stderr);
  t.deepEqual(await labTraces(), []);
  t.regex((await orch('context', 'ls')).stdout, /default .*\*/);
  t.notRegex((await orch('context', 'ls')).stdout, /lab-tcli/);
});

test.serial('lab up cleans the leftovers of a run that died without its state file', async (t) => {
  t.is((await orch('lab', 'up', '--name', NAME, '--index', '253', '--hosts', '1')).code, 0);
  // As if `orch lab up` had been killed before it could record anything:
  // processes, namespace, bridge and rule are there, the state file is not.
  unlinkSync(stateFile(NAME));
  const again = await orch('lab', 'up', '--name', NAME, '--index', '253', '--hosts', '1');
  t.is(again.code, 0, again.stderr);
  t.regex(again.stdout, /stopping \d+ processes/);
  t.regex((await orch('node', 'ls')).stdout, /h1 +Ready/);
  t.is((await orch('lab', 'down', '--name', NAME)).code, 0);
  t.deepEqual(await labTraces(), []);
});

test.serial('bad lab input is refused with what to do', async (t) => {
  const name = await orch('lab', 'up', '--name', 'Bad_Name');
  t.is(name.code, 1);
  t.regex(name.stderr, /lab name "Bad_Name": use 1 to 8 lower-case letters and digits/);
  const managers = await orch('lab', 'up', '--name', NAME, '--hosts', '2', '--managers', '3');
  t.is(managers.code, 1);
  t.regex(managers.stderr, /--managers 3: give 1 to the number of hosts \(2\)/);
  const host = await orch('lab', 'kill', '--name', 'nosuch', 'h1');
  t.is(host.code, 1);
  t.regex(host.stderr, /no lab named "nosuch"/);
  t.deepEqual(await labTraces(), []);
});
