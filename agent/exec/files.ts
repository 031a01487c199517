// Secrets and configs as files in a task's container, never on the node's
// disk: each task that mounts any gets its own tmpfs (memory) under
// /run/orch/files/<host key>/<task>, its files written there with the
// uid, gid and mode asked for, each bind-mounted read-only at its target.
// The values come from the manager (FileValues, the complete set for this
// node) and are kept in memory; a task's tmpfs goes with its container.
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FileValue, Task } from '../../proto/generated/orch.js';
import type { Logger } from '../../shared/log.js';
import { errno, libc } from '../network/libc.js';

const MS_NOSUID = 2;
const MS_NODEV = 4;
const MS_NOEXEC = 8;
const MNT_DETACH = 2;

/** Where this host's agents keep their tasks' tmpfs mounts. */
export const FILES_ROOT = '/run/orch/files';

/** A bind mount for the Engine (its Mounts entry). */
export interface FileMount {
  Type: 'bind';
  Source: string;
  Target: string;
  ReadOnly: true;
}

export class TaskFiles {
  private values = new Map<string, Uint8Array>();

  /** `root`: this host's folder under FILES_ROOT. */
  constructor(
    private readonly root: string,
    private readonly log: Logger,
  ) {}

  /** Replaces the values this node holds: the manager sends the complete set each time. */
  set(values: FileValue[]): void {
    this.values = new Map(values.map((v) => [v.id, v.data]));
  }

  /** Mounts the task's tmpfs and writes its secrets and configs there; returns the bind mounts (none if it mounts none). */
  prepare(task: Task): FileMount[] {
    const refs = [
      ...(task.spec?.secrets ?? []).map((r) => ({ id: r.secretId, what: `secret ${r.secretName}`, file: r.file! })),
      ...(task.spec?.configs ?? []).map((r) => ({ id: r.configId, what: `config ${r.configName}`, file: r.file! })),
    ];
    if (refs.length === 0) return [];
    const data = refs.map((r) => {
      const v = this.values.get(r.id);
      if (!v) throw new Error(`the value of ${r.what} has not reached this node`);
      return v;
    });
    const dir = join(this.root, task.id);
    this.release(task.id);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const size = Math.max(64 * 1024, 2 * data.reduce((n, d) => n + d.length, 0));
    if (libc.mount('tmpfs', dir, 'tmpfs', MS_NOSUID | MS_NODEV | MS_NOEXEC, `size=${size},mode=0700`) !== 0) {
      throw new Error(`mounting a tmpfs for the task's secrets and configs at ${dir} failed (errno ${errno()})`);
    }
    return refs.map((r, i) => {
      const path = join(dir, String(i));
      writeFileSync(path, data[i]!);
      chmodSync(path, r.file.mode);
      chownSync(path, r.file.uid, r.file.gid);
      return { Type: 'bind', Source: path, Target: r.file.name, ReadOnly: true };
    });
  }

  /** Unmounts and removes a task's tmpfs, if it has one. */
  release(taskId: string): void {
    const dir = join(this.root, taskId);
    if (!existsSync(dir)) return;
    if (libc.umount2(dir, MNT_DETACH) !== 0 && errno() !== 22) this.log.warn({ task: taskId, errno: errno() }, 'unmounting a task\'s files failed');
    try {
      rmdirSync(dir);
    } catch (err) {
      this.log.warn({ task: taskId, err: String(err) }, "removing a task's files folder failed");
    }
  }

  /** Releases the tmpfs of every task not in `keep` (those of a crashed agent's tasks included). */
  prune(keep: ReadonlySet<string>): void {
    if (!existsSync(this.root)) return;
    for (const taskId of readdirSync(this.root)) if (!keep.has(taskId)) this.release(taskId);
  }
}
