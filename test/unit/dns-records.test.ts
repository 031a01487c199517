// What each network's resolver answers: service names and aliases, and for
// a task on several networks the names of its other networks too.
import test from 'ava';
import { Endpoint, ServiceEndpoint } from '../../proto/generated/orch.js';
import { dnsRecords, sourceRecords } from '../../agent/network/dns.js';

const svc = (serviceId: string, networkId: string, vip: string, aliases: string[] = []) => ServiceEndpoint.fromPartial({ serviceId, serviceName: `app_${serviceId}`, networkId, vip, aliases });
const ep = (taskId: string, serviceId: string, networkId: string, addr: string) => Endpoint.fromPartial({ taskId, serviceId, networkId, addr, serving: true });

const services = [svc('web', 'front', '10.0.1.2/24', ['web']), svc('web', 'back', '10.0.2.2/24', ['web']), svc('api', 'back', '10.0.2.3/24', ['api', 'backend-api'])];
const endpoints = [ep('w1', 'web', 'front', '10.0.1.5/24'), ep('w1', 'web', 'back', '10.0.2.5/24'), ep('a1', 'api', 'back', '10.0.2.6/24')];

test('a network answers for its services by name and by alias, and their tasks', (t) => {
  t.deepEqual(new Map(dnsRecords('back', services, endpoints)), new Map([
    ['app_web', ['10.0.2.2']], ['tasks.app_web', ['10.0.2.5']], ['web', ['10.0.2.2']], ['tasks.web', ['10.0.2.5']],
    ['app_api', ['10.0.2.3']], ['tasks.app_api', ['10.0.2.6']], ['api', ['10.0.2.3']], ['tasks.api', ['10.0.2.6']], ['backend-api', ['10.0.2.3']], ['tasks.backend-api', ['10.0.2.6']],
  ]));
  t.false(new Map(dnsRecords('front', services, endpoints)).has('api'), 'not a service of that network');
});

test("a task on two networks finds, through either one's resolver, the names of the other", (t) => {
  const front = new Map(sourceRecords('front', services, endpoints).map(([ip, r]) => [ip, new Map(r)]));
  t.deepEqual([...front.keys()], ['10.0.1.5'], 'only the multi-network task, by its address on this network');
  t.deepEqual(front.get('10.0.1.5')!.get('api'), ['10.0.2.3']);
  t.deepEqual(front.get('10.0.1.5')!.get('backend-api'), ['10.0.2.3']);
  t.deepEqual(sourceRecords('back', services, endpoints).map(([ip]) => ip), ['10.0.2.5']);
  t.deepEqual(sourceRecords('front', services, endpoints.filter((e) => e.networkId === 'front')), [], 'a task on one network needs nothing more');
});
