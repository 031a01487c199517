// `orch events`: every manager derives the cluster's events from its mirror
// of etcd (derive.ts) and keeps the newest EVENTS_KEPT. Each event is
// numbered by the etcd revision it came from and its place in it, alike on
// every manager, so a reader that lost its manager resumes on another after
// the last event it got: nothing missed, nothing twice. Events older than
// what a manager kept (it started later, or they were dropped) are announced
// as a gap, not passed over in silence.
import type { ServerWritableStream } from '@grpc/grpc-js';
import { UnavailableError } from '../../shared/errors.js';
import type { ClusterEvent, EventsRequest } from '../../proto/generated/orch.js';
import { EVENT_FILTERS, parseFilters, passes } from '../../shared/filters.js';
import { hostname } from '../cluster.js';
import type { Cache, ObjectChange } from '../store/index.js';
import { deriveEvents, KIND_TYPES, leaderEvent, type Draft, type EventKind } from './derive.js';

/** How many events each manager keeps for readers that come later or resume. */
export const EVENTS_KEPT = 10_000;
/** A reader this many events behind is cut off (it resumes where it was). */
const MAX_QUEUED = 5_000;

type Call = ServerWritableStream<EventsRequest, ClusterEvent>;

export class EventJournal {
  private kept: ClusterEvent[] = [];
  /** Events after this revision are all kept (older ones may be missing). */
  private complete: number;
  private revision = 0;
  private index = 0;
  private readonly readers = new Set<(e: ClusterEvent) => void>();
  private readonly onObject = (c: ObjectChange) => {
    if (c.kind in KIND_TYPES) this.record(deriveEvents({ kind: c.kind as EventKind, prev: c.prev as never, next: c.next as never }, this.hostname, new Date()), c.revision);
  };
  private readonly onLeader = (raw: string, revision: number) => {
    const { managerId } = JSON.parse(raw) as { managerId: string };
    this.record([leaderEvent(managerId, this.hostname(managerId), new Date())], revision);
  };
  private readonly hostname = (nodeId: string) => hostname(this.cache, nodeId);

  constructor(
    private readonly cache: Cache,
    private readonly limit = EVENTS_KEPT,
  ) {
    this.complete = cache.revision;
  }

  /** Starts recording (after the mirror's first list: what was there before is not news). */
  start(): void {
    this.complete = this.cache.revision;
    this.cache.on('object', this.onObject);
    this.cache.on('leader', this.onLeader);
  }

  stop(): void {
    this.cache.off('object', this.onObject);
    this.cache.off('leader', this.onLeader);
  }

  private record(drafts: Draft[], revision: number): void {
    for (const d of drafts) {
      if (revision !== this.revision) [this.revision, this.index] = [revision, 0];
      const e: ClusterEvent = { ...d, revision: BigInt(revision), index: this.index++ };
      this.kept.push(e);
      for (const r of this.readers) r(e);
    }
    if (this.kept.length > this.limit * 1.1) {
      const dropped = this.kept.length - this.limit;
      this.complete = Number(this.kept[dropped - 1]!.revision);
      this.kept = this.kept.slice(dropped);
    }
  }

  /** Streams the events a request asks for: those kept that match, then (unless `until` has passed) new ones until `until`. */
  serve(call: Call): Promise<void> {
    const req = call.request;
    const filters = parseFilters(req.filters, EVENT_FILTERS);
    const since = req.since?.getTime();
    const until = req.until?.getTime();
    const match = (e: ClusterEvent) =>
      passes(filters, 'type', (v) => v === e.type) &&
      passes(filters, 'name', (v) => v === e.name) &&
      passes(filters, 'id', (v) => e.id.startsWith(v)) &&
      passes(filters, 'event', (v) => v === e.action) &&
      (since === undefined || (e.time?.getTime() ?? 0) >= since) &&
      (until === undefined || (e.time?.getTime() ?? 0) <= until);
    const after = (e: ClusterEvent) => !req.resume || e.revision > req.afterRevision || (e.revision === req.afterRevision && e.index > req.afterIndex);
    return new Promise<void>((resolve, reject) => {
      let queued = 0;
      const done = () => {
        this.readers.delete(live);
        clearTimeout(timer);
        call.off('drain', drained);
        resolve();
      };
      const send = (e: ClusterEvent) => {
        if (call.write(e)) return;
        if (++queued < MAX_QUEUED) return;
        done();
        reject(new UnavailableError('the reader fell too far behind; resume after the last event read'));
      };
      const drained = () => (queued = 0);
      const live = (e: ClusterEvent) => match(e) && after(e) && send(e);
      call.on('drain', drained);
      call.on('cancelled', done);
      if (req.resume && Number(req.afterRevision) < this.complete) {
        send({ type: 'orch', action: 'gap', id: '', name: '', attributes: { after: String(req.afterRevision), kept: String(this.complete) }, time: new Date(), revision: req.afterRevision, index: req.afterIndex });
      }
      if (req.resume || since !== undefined) for (const e of this.kept) if (match(e) && after(e)) send(e);
      const timer = until === undefined ? undefined : setTimeout(done, Math.max(0, until - Date.now()));
      if (until !== undefined && until <= Date.now()) return done();
      this.readers.add(live);
    });
  }
}
