// `orch service logs`: the lines of a service's tasks (or of one task), read
// by the agents of the nodes that ran them and merged into one stream.
// Agents hold their sessions with the leader only, so a follower hands the
// call to the leader and relays its answer. It never hangs on a node: one
// with no session, or whose agent does not answer in LOGS_ANSWER_MS, gets a
// notice and the others go on. With `follow`, tasks that get a container
// later (a replacement, a scale-up, a rolling update) join in. A slow reader
// pauses the agents' calls (flow control), so nothing piles up here.
import type { ClientReadableStream, ServerWritableStream } from '@grpc/grpc-js';
import type { Readable } from 'node:stream';
import type { ControlClient, LogsMessage, LogsPublish, LogsRequest, LogSource, Task } from '../../proto/generated/orch.js';
import { NotFoundError, UnavailableError, fromGrpcError } from '../../shared/errors.js';
import { shortId } from '../../shared/ids.js';
import { taskName } from '../../shared/states.js';
import type { Dispatcher } from '../dispatcher/index.js';
import { hostname } from '../cluster.js';
import type { Cache, Store } from '../store/index.js';
import { resolveService } from './resolve.js';

type Call = ServerWritableStream<LogsRequest, LogsMessage>;

export interface LogsDeps {
  store: Store;
  cache: Cache;
  /** This manager's dispatcher while it leads; undefined on a follower. */
  leading(): Dispatcher | undefined;
  /** A client for the leader (from a follower); undefined while there is none. */
  leader(): Promise<ControlClient | undefined>;
}

/** Streams the logs `call.request` asks for until they are all sent (or, following, until the caller leaves). */
export async function serveLogs(call: Call, deps: LogsDeps): Promise<void> {
  const d = deps.leading();
  if (d) return new LogsStream(call, deps.cache, d).run(await select(deps.store, deps.cache, call.request.ref));
  const leader = await deps.leader();
  if (!leader) throw new UnavailableError('there is no leader to read logs through; try again in a moment');
  return relay(leader.logs(call.request), call);
}

/** What a reference names: a service (its tasks, and later ones when following) or one task. */
interface Selection {
  serviceId?: string;
  tasks: Task[];
}

async function select(store: Store, cache: Cache, ref: string): Promise<Selection> {
  const all = [...cache.tasks.values()].map((v) => v.value);
  const service = await resolveService(store, cache, ref).catch((err) => {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  });
  if (service) return { serviceId: service.value.id, tasks: all.filter((t) => t.serviceId === service.value.id && ranSomewhere(t)).sort(bySlot) };
  const byId = all.filter((t) => t.id.startsWith(ref));
  const byName = all.filter((t) => taskName(t) === ref && ranSomewhere(t)).sort(bySlot);
  const task = byId.length === 1 ? byId[0] : byName.at(-1);
  if (!task) throw new NotFoundError(`no service or task "${ref}"; \`orch service ls\` lists the services, \`orch service ps SERVICE\` their tasks`);
  return { tasks: [task] };
}

const ranSomewhere = (t: Task) => !!(t.nodeId && t.status?.containerId);
const bySlot = (a: Task, b: Task) => a.slot - b.slot || (a.createdAt?.getTime() ?? 0) - (b.createdAt?.getTime() ?? 0);

/** The leader's side: one feed per node, merged onto the call. */
class LogsStream {
  private readonly req: LogsRequest;
  private readonly asked = new Set<string>();
  private readonly told = new Set<string>();
  private readonly feeds = new Set<() => void>();
  private readonly paused = new Set<Readable>();
  private open = 0;
  private finished = false;
  private done: () => void = () => undefined;

  constructor(
    private readonly call: Call,
    private readonly cache: Cache,
    private readonly dispatcher: Dispatcher,
  ) {
    this.req = call.request;
  }

  run(sel: Selection): Promise<void> {
    return new Promise<void>((resolve) => {
      this.done = resolve;
      const joinLater = () => this.joinLater(sel.serviceId!);
      this.call.on('cancelled', () => this.finish());
      if (this.req.follow && sel.serviceId) {
        this.cache.on('change', joinLater);
        this.done = () => (this.cache.off('change', joinLater), resolve());
      }
      this.ask(sel.tasks, this.req.tail, sel.serviceId === undefined);
      this.settle();
    });
  }

  /** Following a service: its tasks that got a container since, from their first line. */
  private joinLater(serviceId: string): void {
    if (this.finished) return;
    if (!this.dispatcher.leading) return this.finish('this manager stopped leading; run the command again');
    const fresh = [...this.cache.tasks.values()].map((v) => v.value).filter((t) => t.serviceId === serviceId && ranSomewhere(t) && !this.asked.has(t.id));
    if (fresh.length) this.ask(fresh, -1n, false);
  }

  private ask(tasks: Task[], tail: bigint, named: boolean): void {
    const byNode = new Map<string, Task[]>();
    for (const t of tasks) {
      this.asked.add(t.id);
      byNode.set(t.nodeId, [...(byNode.get(t.nodeId) ?? []), t]);
    }
    for (const [nodeId, list] of byNode) {
      this.open++;
      const ask = { taskIds: list.map((t) => t.id), follow: this.req.follow, tail, since: this.req.since };
      void this.dispatcher.openLogs(nodeId, ask).then(
        (feed) => {
          if (this.finished) return (feed.close(), this.closed());
          for (const id of feed.missing) if (named) this.notice(list.find((t) => t.id === id)!, 'no logs, its container was removed');
          let ended = false;
          const end = () => {
            if (ended) return;
            ended = true;
            this.feeds.delete(end);
            this.paused.delete(feed.stream);
            feed.close();
            this.closed();
          };
          this.feeds.add(end);
          feed.stream.on('data', (m: LogsPublish) => this.lines(list, m, feed.stream));
          feed.stream.on('end', end);
          feed.stream.on('error', () => {
            if (!ended) for (const t of list) this.notice(t, 'logs cut off, the node left');
            end();
          });
          if (!this.paused.has(feed.stream)) feed.stream.resume();
        },
        (err: Error) => {
          for (const t of list) this.notice(t, `logs unavailable, ${err.message}`);
          this.closed();
        },
      );
    }
  }

  private lines(tasks: Task[], m: LogsPublish, from: Readable): void {
    if (this.finished || !m.lines.length) return;
    const sources: LogSource[] = [];
    for (const l of m.lines) {
      if (this.told.has(l.taskId)) continue;
      const t = tasks.find((x) => x.id === l.taskId);
      if (!t) continue;
      this.told.add(t.id);
      sources.push({ taskId: t.id, name: taskName(t), hostname: this.hostname(t.nodeId) });
    }
    this.send({ sources, lines: m.lines, notice: '' }, from);
  }

  private notice(t: Task, what: string): void {
    if (this.finished) return;
    this.send({ sources: [], lines: [], notice: `${taskName(t)}.${shortId(t.id)} on ${this.hostname(t.nodeId)}: ${what}` });
  }

  /** Writes to the caller; when its buffer is full, the feed that wrote waits for it to drain. */
  private send(msg: LogsMessage, from?: Readable): void {
    if (this.call.write(msg) || !from) return;
    from.pause();
    this.paused.add(from);
    if (this.paused.size > 1) return;
    this.call.once('drain', () => {
      for (const f of this.paused) f.resume();
      this.paused.clear();
    });
  }

  private hostname(nodeId: string): string {
    return hostname(this.cache, nodeId);
  }

  private closed(): void {
    this.open--;
    this.settle();
  }

  /** Without follow, done once every feed has ended. */
  private settle(): void {
    if (!this.req.follow && this.open === 0) this.finish();
  }

  private finish(why?: string): void {
    if (this.finished) return;
    this.finished = true;
    for (const end of [...this.feeds]) end();
    if (why) this.call.write({ sources: [], lines: [], notice: why });
    this.done();
  }
}

/** A follower's side: the leader's answer, passed on at the pace the caller reads. */
function relay(up: ClientReadableStream<LogsMessage>, call: Call): Promise<void> {
  call.on('cancelled', () => up.cancel());
  return new Promise((resolve, reject) => {
    up.on('data', (m: LogsMessage) => {
      if (call.write(m)) return;
      up.pause();
      call.once('drain', () => up.resume());
    });
    up.on('end', resolve);
    up.on('error', (err) => reject(fromGrpcError(err as Parameters<typeof fromGrpcError>[0], 'the leader')));
  });
}
