// `orch agent`: one per host. Holds a session with the leader, runs the
// node's tasks through the Docker Engine and reports their status.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Task } from '../proto/generated/orch.js';
import { newId } from '../shared/ids.js';
import { logger, type Logger } from '../shared/log.js';
import { Engine } from './exec/engine.js';
import { Executor } from './exec/executor.js';
import { Session } from './session.js';

export interface AgentOptions {
  /** Manager gRPC address, host:port. */
  manager: string;
  /** Docker Engine socket. */
  dockerSocket?: string;
  /** Keeps the node id across restarts. */
  stateDir: string;
  /** Overrides the reported hostname (the lab's hosts share one kernel hostname). */
  hostname?: string;
  /** Address other hosts reach this one at (underlay). */
  addr?: string;
  /** Cluster id stamped on containers; only containers with it are ever touched. */
  cluster?: string;
}

export class Agent {
  readonly nodeId: string;
  readonly log: Logger;
  private readonly engine: Engine;
  private readonly executor: Executor;
  private readonly session: Session;
  private applying: Promise<void> = Promise.resolve();
  private latest: Task[] | undefined;
  private applyQueued = false;

  constructor(private readonly opts: AgentOptions) {
    this.nodeId = loadNodeId(opts.stateDir);
    const tag = { node: this.nodeId.slice(0, 12) };
    this.log = logger('agent', tag);
    this.engine = new Engine(opts.dockerSocket ?? '/var/run/docker.sock', { cluster: opts.cluster ?? 'default', node: this.nodeId }, logger('engine', tag));
    this.executor = new Executor(this.engine, (taskId, status) => this.session.sendStatus(taskId, status), logger('executor', tag));
    this.session = new Session(
      opts.manager,
      this.nodeId,
      {
        describe: () => this.engine.describe(opts.addr ?? '', opts.hostname),
        onAssignments: (tasks) => this.apply(tasks),
        statuses: () => this.executor.statuses(),
      },
      logger('session', tag),
    );
  }

  start(): void {
    this.executor.start();
    this.session.start();
    this.log.info({ manager: this.opts.manager }, 'agent started');
  }

  async stop(): Promise<void> {
    this.session.stop();
    await this.applying;
    await this.executor.stop();
  }

  /**
   * Applies assignment sets one at a time; sets that arrive meanwhile collapse
   * into the newest. A set that cannot be applied (engine down) is retried.
   */
  private apply(tasks: Task[]): void {
    this.latest = tasks;
    if (this.applyQueued) return;
    this.applyQueued = true;
    this.applying = this.applying.then(async () => {
      this.applyQueued = false;
      await this.executor.assign(this.latest!).catch((err) => {
        this.log.warn({ err: String(err) }, 'applying assignments failed; retrying in 1s');
        setTimeout(() => this.apply(this.latest!), 1000);
      });
    });
  }
}

/** The node id kept in the state dir, made on first start. */
function loadNodeId(stateDir: string): string {
  mkdirSync(stateDir, { recursive: true });
  const file = join(stateDir, 'node-id');
  try {
    const id = readFileSync(file, 'utf8').trim();
    if (id) return id;
  } catch {
    // first start
  }
  const id = newId();
  writeFileSync(file, `${id}\n`);
  return id;
}
