// Which secret and config values a node is sent: only those its tasks that
// have not ended mount; and `--secret`/`--config` in Docker's spelling.
import test from 'ava';
import { Task, TaskState } from '../../proto/generated/orch.js';
import { neededFiles } from '../../manager/dispatcher/files.js';
import { parseFileRef } from '../../cli/container-flags.js';

const task = (state: TaskState, secrets: string[], configs: string[] = []) =>
  Task.fromPartial({
    status: { state },
    spec: { image: 'x', secrets: secrets.map((id) => ({ secretId: id, secretName: id })), configs: configs.map((id) => ({ configId: id, configName: id })) },
  });

test('a node gets the secrets and configs of its live tasks, once each, and none of tasks that ended', (t) => {
  t.deepEqual(neededFiles([task(TaskState.RUNNING, ['s1', 's2'], ['c1']), task(TaskState.STARTING, ['s2'])]), { secrets: ['s1', 's2'], configs: ['c1'] });
  t.deepEqual(neededFiles([task(TaskState.COMPLETE, ['s1']), task(TaskState.FAILED, ['s2'], ['c1'])]), { secrets: [], configs: [] });
  t.deepEqual(neededFiles([]), { secrets: [], configs: [] }, 'a node with no task using one gets none');
});

test('--secret and --config: a name, or source=,target=,uid=,gid=,mode= (octal)', (t) => {
  t.deepEqual(parseFileRef('db-pass', '--secret'), { name: 'db-pass', file: { name: '', uid: 0, gid: 0, mode: 0 } });
  t.deepEqual(parseFileRef('source=db-pass,target=/etc/pw,uid=70,gid=71,mode=0400', '--secret'), { name: 'db-pass', file: { name: '/etc/pw', uid: 70, gid: 71, mode: 0o400 } });
  t.throws(() => parseFileRef('target=/x', '--secret'), { message: /names no source/ });
  t.throws(() => parseFileRef('source=a,mode=rw', '--config'), { message: /mode "rw" is not an octal mode/ });
  t.throws(() => parseFileRef('source=a,owner=me', '--config'), { message: /unknown field "owner"/ });
});
