// An Engine on the host's dockerd for one test, under a cluster label of its
// own: every container it made is removed when the test ends (others are
// never touched), with its secrets directory. `beforeCleanup` runs first.
import type { ExecutionContext } from 'ava';
import Docker from 'dockerode';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine } from '../../agent/exec/engine.js';
import { TaskFiles } from '../../agent/exec/files.js';
import { LABEL } from '../../agent/exec/labels.js';
import { logger } from '../../shared/log.js';
import { newId } from '../../shared/ids.js';

export function testEngine(t: ExecutionContext, prefix: string, beforeCleanup: () => Promise<void> = async () => undefined): { engine: Engine; docker: Docker; cluster: string } {
  const log = logger('test');
  const cluster = `${prefix}-${newId().slice(0, 8)}`;
  const dir = mkdtempSync(join(tmpdir(), `orch-${prefix}-`));
  const engine = new Engine('/var/run/docker.sock', { cluster, node: 'n1', hostname: 'n1' }, log, new TaskFiles(dir, log));
  const docker = new Docker({ socketPath: '/var/run/docker.sock' });
  t.teardown(async () => {
    await beforeCleanup();
    const mine = await docker.listContainers({ all: true, filters: { label: [`${LABEL.cluster}=${cluster}`] } });
    for (const c of mine) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });
  return { engine, docker, cluster };
}
