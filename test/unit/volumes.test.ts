// Where a task's data is: the age of a node's oldest copy of the volumes a
// task mounts, by the names the task would give them there.
import test from 'ava';
import { ContainerSpec, Mount_Type, Node, Task } from '../../proto/generated/orch.js';
import { mountsVolume, volumeAge } from '../../manager/scheduler/volumes.js';

const task = (...sources: string[]) =>
  Task.fromPartial({ id: 't', serviceId: 's', serviceName: 'db', slot: 2, spec: { image: 'img', mounts: sources.map((source) => ({ type: Mount_Type.VOLUME, source, target: `/${source}` })) } });
const node = (volumes: Record<string, number | undefined>, hostname = 'h1') =>
  Node.fromPartial({ id: 'n1', description: { hostname }, volumes: Object.entries(volumes).map(([name, at]) => ({ name, createdAt: at === undefined ? undefined : new Date(at) })) });

test("a node's age for a task: its oldest copy of the task's volumes, by the names templates give them there; Infinity without one", (t) => {
  t.is(volumeAge(node({}), task('data')), Infinity, 'no volumes at all');
  t.is(volumeAge(node({ other: 5 }), task('data')), Infinity, 'none of the task\'s');
  t.is(volumeAge(node({ data: 5000 }), task('data')), 5000);
  t.is(volumeAge(node({ 'data-2': 7000, 'logs-2': 3000 }), task('data-{{.Task.Slot}}', 'logs-{{.Task.Slot}}')), 3000, 'the oldest of its copies');
  t.is(volumeAge(node({ 'data-1': 1000, 'data-2': 7000 }), task('data-{{.Task.Slot}}')), 7000, "another slot's copy is not this slot's");
  t.is(volumeAge(node({ 'cache-h1': 4000 }, 'h1'), task('cache-{{.Node.Hostname}}')), 4000, 'named after the node it is on');
  t.is(volumeAge(node({ 'cache-h1': 4000 }, 'h2'), task('cache-{{.Node.Hostname}}')), Infinity);
  t.is(volumeAge(node({ data: undefined }), task('data')), 0, 'a copy of unknown age counts as the oldest');
});

test('whether a container spec mounts a named volume', (t) => {
  t.false(mountsVolume(undefined));
  t.false(mountsVolume(ContainerSpec.fromPartial({ image: 'img' })));
  t.false(mountsVolume(ContainerSpec.fromPartial({ image: 'img', mounts: [{ type: Mount_Type.BIND, source: '/srv', target: '/srv' }] })));
  t.true(mountsVolume(ContainerSpec.fromPartial({ image: 'img', mounts: [{ type: Mount_Type.BIND, source: '/srv', target: '/srv' }, { type: Mount_Type.VOLUME, source: 'data', target: '/data' }] })));
});
