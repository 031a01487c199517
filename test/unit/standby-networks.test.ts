// Networks kept ready on a node before any task comes: those of every service
// that may be placed there.
import test from 'ava';
import { Node, NodeAvailability, NodeState } from '../../proto/generated/orch.js';
import { standbyNetworks } from '../../manager/dispatcher/network-state.js';
import { Harness } from '../helpers/harness.js';

test("a node stands by with the networks of the services it may take: not those whose constraints it fails, none while it is not active", (t) => {
  const h = new Harness();
  h.set('nodes', 'a', Node.fromPartial({ id: 'a', state: NodeState.NODE_READY, availability: NodeAvailability.ACTIVE, description: { hostname: 'a' }, labels: { zone: 'east' } }));
  h.node('b');
  h.service('web', 1, 0, { networks: ['front', 'back'] });
  h.service('db', 1, 0, { networks: ['back', 'data'], placement: { constraints: ['node.labels.zone==east'], maxReplicas: 0 } });
  h.service('batch', 1, 0, { networks: [] });
  t.deepEqual([...standbyNetworks(h.snap, 'a')].sort(), ['back', 'data', 'front']);
  t.deepEqual([...standbyNetworks(h.snap, 'b')].sort(), ['back', 'front'], 'b is not in zone east: no data');
  h.set('nodes', 'b', { ...h.snap.nodes.get('b')!.value, availability: NodeAvailability.DRAIN });
  t.deepEqual([...standbyNetworks(h.snap, 'b')], [], 'drained: it takes nothing new');
  t.deepEqual([...standbyNetworks(h.snap, 'gone')], [], 'an unknown node: nothing');
});
