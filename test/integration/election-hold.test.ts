// An agent that looks for the leader while an election is on: the leader (a
// real `orch manager` process) is frozen; the other manager, once it knows no
// leader, holds the agent's session call until it is itself elected, and then
// accepts it, instead of refusing it and leaving the agent to guess when to
// ask again.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import test from 'ava';
import pino from 'pino';
import { Session } from '../../agent/session.js';
import { connect } from '../../client/control.js';
import { tempEtcd } from '../../lab/etcd.js';
import { freePort } from '../../lab/ports.js';
import { MAIN, waitFor } from '../../lab/run.js';
import { Manager } from '../../manager/index.js';
import { initCluster } from '../../manager/ca/init.js';
import { loadTls } from '../../shared/tls/credentials.js';
import { joinCluster } from '../../shared/tls/join.js';

test('a follower that knows no leader holds an agent session until it is elected, then accepts it', async (t) => {
  const etcd = await tempEtcd();
  const dir = mkdtempSync(join(tmpdir(), 'orch-hold-'));
  t.teardown(async () => {
    await etcd.destroy();
    rmSync(dir, { recursive: true, force: true });
  });
  const addr1 = `127.0.0.1:${await freePort()}`;
  await initCluster({ etcd: etcd.endpoint, stateDir: join(dir, 'm1'), adminDir: join(dir, 'admin'), advertise: addr1 });
  const first = spawn(process.execPath, [MAIN, 'manager', '--etcd', etcd.endpoint, '--listen', addr1, '--state-dir', join(dir, 'm1')], { stdio: 'ignore', env: { ...process.env, ORCH_LOG_LEVEL: 'warn' } });
  t.teardown(() => void first.kill('SIGKILL'));
  const ctl = connect(addr1, loadTls(join(dir, 'admin')));
  t.teardown(() => ctl.close());
  await waitFor(async () => (await ctl.listNodes({})).nodes.length >= 0, 20_000, 'the first manager answers');

  const addr2 = `127.0.0.1:${await freePort()}`;
  await joinCluster({ token: (await ctl.getJoinToken({ role: 'manager', rotate: false })).token, manager: addr1, stateDir: join(dir, 'm2'), hostname: 'm2' });
  const second = new Manager({ etcd: etcd.endpoint, listen: addr2, stateDir: join(dir, 'm2') });
  t.teardown(() => second.stop());
  await second.start();
  await joinCluster({ token: (await ctl.getJoinToken({ role: 'worker', rotate: false })).token, manager: addr1, stateDir: join(dir, 'w1'), hostname: 'w1' });

  // The leader freezes. Its follower stops naming it 0.5 s after its last answer (which the follower may read
  // up to a ping period late) and replaces it 1 s after that answer: 0.9 s after the freeze is in between.
  first.kill('SIGSTOP');
  const frozenAt = Date.now();
  await new Promise((r) => setTimeout(r, 900));
  t.false(second.isLeader, 'not elected yet: the session is asked for during the election');

  // What the agent logs: every refusal and loss is a warning.
  const lines: Array<{ msg: string; why?: string }> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as { msg: string; why?: string });
      cb();
    },
  });
  const asked = Date.now();
  let accepted!: () => void;
  const done = new Promise<void>((resolve) => (accepted = resolve));
  const session = new Session([addr2], loadTls(join(dir, 'w1')), {
    describe: async () => ({ hostname: 'w1', os: 'linux', arch: 'x64', engineVersion: 'test', resources: undefined, addr: '127.0.0.1' }),
    onAssignments: () => undefined,
    onNetworks: () => undefined,
    onFiles: () => undefined,
    onRemoveVolumes: () => undefined,
    statuses: () => {
      accepted();
      return [];
    },
    onCertificate: () => loadTls(join(dir, 'w1')),
    onLogs: () => undefined,
  }, pino({ level: 'info' }, sink));
  session.start();
  t.teardown(() => session.stop());
  await done;
  t.true(second.isLeader, 'accepted by the follower once it was elected');
  const refusals = lines.filter((l) => l.msg === 'session lost; reconnecting');
  t.deepEqual(refusals.map((l) => l.why), [], 'no refusal: the call waited for the election');
  t.log(`asked ${asked - frozenAt} ms after the freeze, accepted ${Date.now() - frozenAt} ms after it`);
  first.kill('SIGKILL');
});
