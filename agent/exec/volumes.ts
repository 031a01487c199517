// The node's orch volumes on its Docker Engine: made where a task first needs
// one (labelled with cluster, node, and the service and slot that asked),
// listed for the manager with the tasks that mount each, and removed when
// `orch volume rm` asks and no task uses it.
import type Docker from 'dockerode';
import { TaskState, type Task, type VolumeInfo } from '../../proto/generated/orch.js';
import { volumeNames } from '../../shared/templates.js';
import { isTerminal } from '../../shared/states.js';
import { LABEL, type Owner } from './labels.js';

export class NodeVolumes {
  /** Called after the set may have changed (a volume made or removed, a container that mounts one made or removed). */
  changed: (() => void) | undefined;

  constructor(
    private readonly docker: Docker,
    private readonly owner: Owner,
  ) {}

  /**
   * Makes sure a named volume exists, labelled as orch's. One that is there
   * is used as it is: a volume outlives its tasks, and data is never replaced.
   */
  async ensure(name: string, task: Task, labels: Record<string, string>): Promise<void> {
    if (await this.inspect(name)) return;
    await this.docker.createVolume({
      Name: name,
      Labels: { ...labels, [LABEL.cluster]: this.owner.cluster, [LABEL.node]: this.owner.node, [LABEL.service]: task.serviceId, [LABEL.serviceName]: task.serviceName, [LABEL.slot]: String(task.slot) },
    });
  }

  /** The named volumes this node made, with the tasks whose containers mount each now. */
  async list(): Promise<VolumeInfo[]> {
    const { Volumes } = await this.docker.listVolumes({ filters: { label: this.mine() } });
    const users = new Map<string, string[]>();
    for (const c of await this.docker.listContainers({ all: true, filters: { label: this.mine() } })) {
      for (const m of c.Mounts ?? []) if (m.Type === 'volume' && m.Name) users.set(m.Name, [...(users.get(m.Name) ?? []), c.Labels[LABEL.task] ?? '']);
    }
    return (Volumes ?? [])
      .map((v) => ({
        name: v.Name,
        serviceId: v.Labels?.[LABEL.service] ?? '',
        serviceName: v.Labels?.[LABEL.serviceName] ?? '',
        slot: Number(v.Labels?.[LABEL.slot] ?? 0),
        tasks: (users.get(v.Name) ?? []).sort(),
        createdAt: createdAt(v),
      }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * Removes one of this node's orch volumes, unless a task assigned here
   * will mount it or a container does. Returns why not ('' once removed or
   * if it was gone already).
   */
  async remove(name: string, assigned: readonly Task[]): Promise<string> {
    const here = { id: this.owner.node, hostname: this.owner.hostname };
    const user = assigned.find((t) => t.desiredState === TaskState.RUNNING && !isTerminal(t.status!.state) && volumeNames(t, here).includes(name));
    if (user) return `volume ${name} is in use by task ${user.id.slice(0, 12)} (service ${user.serviceName}, slot ${user.slot})`;
    const found = await this.inspect(name);
    if (!found) return '';
    if (found.Labels?.[LABEL.cluster] !== this.owner.cluster || found.Labels?.[LABEL.node] !== this.owner.node) return `volume ${name} on this node is not one orch made: remove it with docker volume rm`;
    try {
      await this.docker.getVolume(name).remove();
    } catch (err) {
      const { statusCode, message } = err as { statusCode?: number; message?: string };
      if (statusCode === 404) return '';
      if (statusCode === 409) return `volume ${name} is in use by a container on this node`;
      return `removing volume ${name} failed: ${String(message).split('\n')[0]}`;
    } finally {
      this.changed?.();
    }
    return '';
  }

  private mine(): string[] {
    return [`${LABEL.cluster}=${this.owner.cluster}`, `${LABEL.node}=${this.owner.node}`];
  }

  private inspect(name: string): Promise<Docker.VolumeInspectInfo | undefined> {
    return this.docker.getVolume(name).inspect().then(
      (v) => v,
      (err: { statusCode?: number }) => {
        if (err.statusCode === 404) return undefined;
        throw err;
      },
    );
  }
}

/** When the engine made a volume (its CreatedAt, which the API gives and @types/dockerode leaves out). */
function createdAt(v: Docker.VolumeInspectInfo & { CreatedAt?: string }): Date | undefined {
  const at = v.CreatedAt ? new Date(v.CreatedAt) : undefined;
  return at && !Number.isNaN(at.getTime()) ? at : undefined;
}
