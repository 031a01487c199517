// Which secret and config values a node gets: those its tasks that have not
// ended mount, and no other. Configs come from the mirror; a secret's value
// is read from etcd and unsealed once (secrets never change), and kept in
// memory on the leader only.
import type { FileValue, Task } from '../../proto/generated/orch.js';
import type { Logger } from '../../shared/log.js';
import { isTerminal } from '../../shared/states.js';
import { TaskState } from '../../proto/generated/orch.js';
import type { Cache } from '../store/index.js';

/** The ids of the secrets and configs these tasks mount (tasks that ended need none). */
export function neededFiles(tasks: Task[]): { secrets: string[]; configs: string[] } {
  const secrets = new Set<string>();
  const configs = new Set<string>();
  for (const t of tasks) {
    if (isTerminal(t.status?.state ?? TaskState.NEW)) continue;
    for (const r of t.spec?.secrets ?? []) secrets.add(r.secretId);
    for (const r of t.spec?.configs ?? []) configs.add(r.configId);
  }
  return { secrets: [...secrets].sort(), configs: [...configs].sort() };
}

export class FileValues {
  private readonly secrets = new Map<string, Uint8Array>();
  private readonly loading = new Set<string>();

  constructor(
    private readonly cache: Cache,
    /** Reads and unseals one secret's value. */
    private readonly load: (secretId: string) => Promise<Uint8Array>,
    /** Called when a value that was being read has arrived (push again). */
    private readonly loaded: () => void,
    private readonly log: Logger,
  ) {}

  /** The values these tasks need, or undefined while one is still being read (then `loaded` follows). */
  valuesFor(tasks: Task[]): FileValue[] | undefined {
    const { secrets, configs } = neededFiles(tasks);
    const out: FileValue[] = [];
    let missing = false;
    for (const id of secrets) {
      // One removed meanwhile (its service went first) has no value to send: a task that still needs it fails to start, saying so.
      if (!this.cache.secrets.has(id)) continue;
      const data = this.secrets.get(id);
      if (data) out.push({ id, data });
      else {
        missing = true;
        this.fetch(id);
      }
    }
    for (const id of configs) {
      const c = this.cache.configs.get(id)?.value;
      if (c) out.push({ id, data: c.spec!.data });
    }
    return missing ? undefined : out;
  }

  /** Forgets the values of secrets that are gone. */
  prune(): void {
    for (const id of this.secrets.keys()) if (!this.cache.secrets.has(id)) this.secrets.delete(id);
  }

  private fetch(id: string): void {
    if (this.loading.has(id)) return;
    this.loading.add(id);
    this.load(id).then(
      (data) => {
        this.loading.delete(id);
        this.secrets.set(id, data);
        this.loaded();
      },
      (err) => {
        this.loading.delete(id);
        this.log.warn({ secret: id, err: String(err) }, 'reading a secret failed; will retry');
        setTimeout(() => this.loaded(), 1000).unref();
      },
    );
  }
}
