// What a change of one object in etcd means to people: a pure function of
// the object before and after, so every manager derives the same events
// from the same revision. Only what people act on makes an event: a node's
// heartbeat bookkeeping or a task's health probe changing nothing does not.
import {
  nodeAvailabilityToJSON,
  nodeStateToJSON,
  updateStatus_StateToJSON,
  type ClusterEvent,
  type Config,
  type Network,
  type Node,
  type Secret,
  type Service,
  type Task,
} from '../../proto/generated/orch.js';
import { stateName, taskName } from '../../shared/states.js';
import type { KindType } from '../store/codec.js';
import type { EVENT_TYPES } from '../../shared/filters.js';

/** The kinds that make events, and the type each is shown as. */
export const KIND_TYPES = { services: 'service', tasks: 'task', nodes: 'node', networks: 'network', secrets: 'secret', configs: 'config' } as const satisfies Record<string, (typeof EVENT_TYPES)[number]>;
export type EventKind = keyof typeof KIND_TYPES;

/** One change: the object before (absent: created) and after (absent: removed). */
export interface Change<K extends EventKind = EventKind> {
  kind: K;
  prev?: KindType[K];
  next?: KindType[K];
}

/** An event before it is numbered (revision and index come from where it was seen). */
export type Draft = Omit<ClusterEvent, 'revision' | 'index'>;

/** The events of one change; `hostname` names a node by id; `now` stands in where the object records no time. */
export function deriveEvents(c: Change, hostname: (nodeId: string) => string, now: Date): Draft[] {
  switch (c.kind) {
    case 'services':
      return serviceEvents(c.prev as Service | undefined, c.next as Service | undefined, now);
    case 'tasks':
      return taskEvents(c.prev as Task | undefined, c.next as Task | undefined, hostname, now);
    case 'nodes':
      return nodeEvents(c.prev as Node | undefined, c.next as Node | undefined, now);
    default:
      return lifeEvents(KIND_TYPES[c.kind], (c.prev ?? c.next) as Network | Secret | Config, !c.prev, !c.next, now);
  }
}

/** The leader changed: `managerId` won the election. */
export function leaderEvent(managerId: string, hostname: string, now: Date): Draft {
  return { type: 'node', action: 'leader', id: managerId, name: hostname, attributes: { leader: 'true' }, time: now };
}

function serviceEvents(prev: Service | undefined, next: Service | undefined, now: Date): Draft[] {
  const s = (next ?? prev)!;
  const base = { type: 'service', id: s.id, name: s.spec?.name ?? '' };
  if (!prev) return [{ ...base, action: 'create', attributes: { image: s.spec?.container?.image ?? '' }, time: s.createdAt ?? now }];
  if (!next) return [{ ...base, action: 'remove', attributes: {}, time: now }];
  const out: Draft[] = [];
  if (next.version !== prev.version) {
    const attributes: Record<string, string> = { version: String(next.version) };
    if (next.spec?.container?.image !== prev.spec?.container?.image) Object.assign(attributes, { 'image.old': prev.spec?.container?.image ?? '', 'image.new': next.spec?.container?.image ?? '' });
    if (next.spec?.replicas !== prev.spec?.replicas) Object.assign(attributes, { 'replicas.old': String(prev.spec?.replicas ?? 0), 'replicas.new': String(next.spec?.replicas ?? 0) });
    out.push({ ...base, action: 'update', attributes, time: next.updatedAt ?? now });
  }
  const was = prev.updateStatus?.state ?? 0;
  const is = next.updateStatus?.state ?? 0;
  if (is !== was && is !== 0) {
    const attributes: Record<string, string> = { 'updatestate.old': rollout(was), 'updatestate.new': rollout(is) };
    if (next.updateStatus?.message) attributes['updatestate.message'] = next.updateStatus.message;
    out.push({ ...base, action: 'update', attributes, time: next.updatedAt ?? now });
  }
  return out;
}

const rollout = (state: number) => (state === 0 ? '' : updateStatus_StateToJSON(state).toLowerCase());

function taskEvents(prev: Task | undefined, next: Task | undefined, hostname: (nodeId: string) => string, now: Date): Draft[] {
  const t = (next ?? prev)!;
  const base = { type: 'task', id: t.id, name: taskName(t) };
  const attrs = (x: Task): Record<string, string> => ({ service: x.serviceName, ...(x.nodeId ? { node: hostname(x.nodeId) } : {}) });
  if (!prev) return [{ ...base, action: 'create', attributes: attrs(t), time: t.createdAt ?? now }];
  if (!next) return [{ ...base, action: 'remove', attributes: attrs(t), time: now }];
  const was = prev.status?.state ?? 0;
  const is = next.status?.state ?? 0;
  if (is === was) return [];
  const attributes = { ...attrs(next), 'state.old': stateName(was), 'state.new': stateName(is) };
  if (next.status?.err) Object.assign(attributes, { error: next.status.err });
  if (next.status?.exitCode) Object.assign(attributes, { exitCode: String(next.status.exitCode) });
  return [{ ...base, action: stateName(is), attributes, time: next.status?.timestamp ?? now }];
}

function nodeEvents(prev: Node | undefined, next: Node | undefined, now: Date): Draft[] {
  const n = (next ?? prev)!;
  const base = { type: 'node', id: n.id, name: n.description?.hostname ?? '' };
  if (!prev) return [{ ...base, action: 'create', attributes: { role: n.role }, time: n.createdAt ?? now }];
  if (!next) return [{ ...base, action: 'remove', attributes: {}, time: now }];
  const attributes: Record<string, string> = {};
  if (next.state !== prev.state) Object.assign(attributes, { 'state.old': nodeStateToJSON(prev.state).replace(/^NODE_/, '').toLowerCase(), 'state.new': nodeStateToJSON(next.state).replace(/^NODE_/, '').toLowerCase() });
  if (next.state !== prev.state && next.stateMessage) attributes['state.message'] = next.stateMessage;
  if (next.availability !== prev.availability) Object.assign(attributes, { 'availability.old': nodeAvailabilityToJSON(prev.availability).toLowerCase(), 'availability.new': nodeAvailabilityToJSON(next.availability).toLowerCase() });
  if (next.role !== prev.role) Object.assign(attributes, { 'role.old': prev.role, 'role.new': next.role });
  if (!Object.keys(attributes).length) return [];
  return [{ ...base, action: 'update', attributes, time: next.updatedAt ?? now }];
}

function lifeEvents(type: string, o: Network | Secret | Config, created: boolean, removed: boolean, now: Date): Draft[] {
  if (created === removed) return [];
  return [{ type, id: o.id, name: o.spec?.name ?? '', action: created ? 'create' : 'remove', attributes: {}, time: (created && o.createdAt) || now }];
}
