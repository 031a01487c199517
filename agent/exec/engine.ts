// The Docker Engine as the executor sees it: a thin, typed layer over
// dockerode with the pitfalls of DESIGN.md §9 handled here, once:
// pull() resolves before the pull ends (we follow the progress stream and scan
// it for in-band errors); event chunks may hold several or partial JSON lines;
// the events stream ends when dockerd restarts (we reconnect with `since`).
import { hostname as osHostname } from 'node:os';
import Docker from 'dockerode';
import type { NodeDescription, Task } from '../../proto/generated/orch.js';
import type { Logger } from '../../shared/log.js';
import { LABEL } from './labels.js';

/** Identity stamped on, and required of, every container this agent manages. */
export interface Owner {
  cluster: string;
  node: string;
}

/** A container event the executor cares about. */
export interface EngineEvent {
  action: string;
  containerId: string;
  taskId: string | undefined;
}

export class PullError extends Error {}

export class Engine {
  readonly docker: Docker;

  constructor(
    socketPath: string,
    private readonly owner: Owner,
    private readonly log: Logger,
  ) {
    this.docker = new Docker({ socketPath });
  }

  /** What this node has, as reported to the manager on register. */
  async describe(addr: string, hostname?: string): Promise<NodeDescription> {
    const info = await this.docker.info();
    return {
      hostname: hostname ?? osHostname(),
      os: String(info.OperatingSystem ?? 'linux'),
      arch: String(info.Architecture ?? process.arch),
      engineVersion: String(info.ServerVersion ?? ''),
      resources: { nanoCpus: BigInt(info.NCPU ?? 0) * 1_000_000_000n, memoryBytes: BigInt(info.MemTotal ?? 0) },
      addr,
    };
  }

  /** Makes sure the image is present, pulling it with progress if not. */
  async ensureImage(image: string, onProgress: (text: string) => void): Promise<void> {
    try {
      await this.docker.getImage(image).inspect();
      return;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 404) throw err;
    }
    this.log.info({ image }, 'pulling image');
    const stream = await this.docker.pull(image).catch((err: Error) => {
      throw new PullError(`pulling ${image}: ${err.message.split('\n')[0]}`);
    });
    await new Promise<void>((resolve, reject) => {
      this.docker.modem.followProgress(
        stream,
        (err: Error | null, output: Array<{ error?: string }>) => {
          const inBand = output?.find((o) => o.error)?.error;
          if (err || inBand) reject(new PullError(`pulling ${image}: ${err?.message ?? inBand}`));
          else resolve();
        },
        (ev: { status?: string; progress?: string; id?: string }) => onProgress(`pulling ${image}: ${ev.status ?? ''}${ev.progress ? ` ${ev.progress}` : ''}`),
      );
    });
  }

  /** Creates (not starts) the container of a task, labelled as ours. */
  async create(task: Task): Promise<string> {
    const spec = task.spec!;
    const c = await this.docker.createContainer({
      name: `${task.serviceName}.${task.slot}.${task.id}`,
      Image: spec.image,
      Cmd: spec.command.length ? spec.command : undefined,
      Env: spec.env,
      Labels: {
        ...spec.labels,
        [LABEL.cluster]: this.owner.cluster,
        [LABEL.node]: this.owner.node,
        [LABEL.task]: task.id,
        [LABEL.service]: task.serviceId,
        [LABEL.serviceName]: task.serviceName,
        [LABEL.slot]: String(task.slot),
      },
      HostConfig: { Init: false },
    });
    return c.id;
  }

  /** Starts; one already running is fine (304). */
  async start(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).start();
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 304) throw err;
    }
  }

  /** Inspects; undefined if the container no longer exists. */
  async inspect(id: string): Promise<Docker.ContainerInspectInfo | undefined> {
    try {
      return await this.docker.getContainer(id).inspect();
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw err;
    }
  }

  /** Stops with a grace period; a container already stopped or gone is fine. */
  async stop(id: string, graceMs: number): Promise<void> {
    try {
      await this.docker.getContainer(id).stop({ t: Math.ceil(graceMs / 1000) });
    } catch (err) {
      const code = (err as { statusCode?: number }).statusCode;
      if (code !== 304 && code !== 404) throw err;
    }
  }

  /** Removes (forcibly); a container already gone is fine. */
  async remove(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).remove({ force: true, v: true });
    } catch (err) {
      const code = (err as { statusCode?: number }).statusCode;
      if (code !== 404 && code !== 409) throw err; // 409: removal already in progress
    }
  }

  /** Our containers on this engine: task id → container id. */
  async listManaged(): Promise<Map<string, string>> {
    const list = await this.docker.listContainers({
      all: true,
      filters: { label: [`${LABEL.cluster}=${this.owner.cluster}`, `${LABEL.node}=${this.owner.node}`] },
    });
    const out = new Map<string, string>();
    for (const c of list) {
      const task = c.Labels[LABEL.task];
      if (task) out.set(task, c.Id);
    }
    return out;
  }

  /**
   * Follows container events for our containers until `signal` aborts,
   * reconnecting (bounded backoff) with `since` when the stream ends.
   * `onGap` is called after every reconnect: events may have been missed.
   */
  async followEvents(onEvent: (ev: EngineEvent) => void, onGap: () => void, signal: AbortSignal): Promise<void> {
    let since = Math.floor(Date.now() / 1000);
    let backoff = 100;
    while (!signal.aborted) {
      try {
        const stream = (await this.docker.getEvents({
          since,
          filters: { type: ['container'], label: [`${LABEL.node}=${this.owner.node}`] },
        })) as NodeJS.ReadableStream & { destroy(): void };
        backoff = 100;
        await new Promise<void>((resolve) => {
          let buf = '';
          const abort = () => stream.destroy();
          signal.addEventListener('abort', abort, { once: true });
          stream.on('data', (chunk: Buffer) => {
            buf += chunk.toString();
            let nl: number;
            while ((nl = buf.indexOf('\n')) >= 0) {
              const line = buf.slice(0, nl).trim();
              buf = buf.slice(nl + 1);
              if (!line) continue;
              try {
                const ev = JSON.parse(line) as { Action?: string; id?: string; time?: number; Actor?: { Attributes?: Record<string, string> } };
                if (ev.time) since = ev.time;
                onEvent({ action: ev.Action ?? '', containerId: ev.id ?? '', taskId: ev.Actor?.Attributes?.[LABEL.task] });
              } catch {
                this.log.warn({ line: line.slice(0, 200) }, 'undecodable docker event');
              }
            }
          });
          const done = () => {
            signal.removeEventListener('abort', abort);
            resolve();
          };
          stream.on('end', done);
          stream.on('error', done);
          stream.on('close', done);
        });
      } catch (err) {
        this.log.warn({ err: String(err) }, 'docker events unavailable; retrying');
      }
      if (signal.aborted) return;
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 2000);
      onGap();
    }
  }
}
