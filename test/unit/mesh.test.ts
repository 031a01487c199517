// The routing mesh's pure parts: published-port syntax, the nftables text
// generated for VIPs and ingress, and DNS wire-format answers.
import test from 'ava';
import { PortConfig_Protocol, PortConfig_PublishMode } from '../../proto/generated/orch.js';
import { parsePublish } from '../../shared/ports.js';
import { hostsAfter, parseCidr } from '../../shared/ipam.js';
import { ingressHostTable, ingressNsTable, vipTable } from '../../agent/network/lb.js';
import { answer, failure, parseQuestion, RCODE_NXDOMAIN } from '../../agent/network/dns-message.js';

test('--publish: short and long forms, defaults, and clear refusals', (t) => {
  t.deepEqual(parsePublish('8080:80'), { protocol: PortConfig_Protocol.TCP, targetPort: 80, publishedPort: 8080, publishMode: PortConfig_PublishMode.INGRESS });
  t.like(parsePublish('53:53/udp'), { protocol: PortConfig_Protocol.UDP, targetPort: 53, publishedPort: 53 });
  t.like(parsePublish('80'), { targetPort: 80, publishedPort: 0 });
  t.like(parsePublish('published=9090,target=80,mode=host,protocol=udp'), { publishedPort: 9090, targetPort: 80, publishMode: PortConfig_PublishMode.HOST, protocol: PortConfig_Protocol.UDP });
  t.throws(() => parsePublish('8080:'), { message: /--publish "8080:": not a port mapping/ });
  t.throws(() => parsePublish('70000:80'), { message: /"70000" is not a port/ });
  t.throws(() => parsePublish('published=80'), { message: /the target port is missing/ });
  t.throws(() => parsePublish('target=80,mode=both'), { message: /mode "both" is not ingress or host/ });
});

test('VIP table: one DNAT per VIP with backends, chosen at random per connection; replaced whole', (t) => {
  const text = vipTable([
    { vip: '10.10.0.2', backends: ['10.10.0.3', '10.10.0.4'] },
    { vip: '10.10.0.9', backends: ['10.10.0.10'] },
    { vip: '10.10.0.20', backends: [] },
  ]);
  t.true(text.startsWith('table ip orch-lb\ndelete table ip orch-lb\ntable ip orch-lb {'));
  t.true(text.includes('ip daddr 10.10.0.2 dnat ip to numgen random mod 2 map { 0 : 10.10.0.3, 1 : 10.10.0.4 }'));
  t.true(text.includes('ip daddr 10.10.0.9 dnat ip to 10.10.0.10'));
  t.false(text.includes('10.10.0.20'), 'a VIP with no backend is not DNATed (the namespace refuses it)');
});

test('ingress tables: published port to task address and target port; SNAT into the ingress network', (t) => {
  const host = ingressHostTable([
    { protocol: 'tcp', published: 8080, target: 80, backends: ['10.255.0.6', '10.255.0.7'] },
    { protocol: 'udp', published: 5353, target: 53, backends: ['10.255.0.8'] },
  ]);
  t.true(host.includes('fib daddr type local tcp dport 8080 dnat ip to numgen random mod 2 map { 0 : 10.255.0.6 . 80, 1 : 10.255.0.7 . 80 }'));
  t.true(host.includes('fib daddr type local udp dport 5353 dnat ip to 10.255.0.8:53'));
  t.true(host.includes('type nat hook output priority -100'), 'also for connections made on the host itself');
  t.true(ingressNsTable('ovinp', 'obr4097', '10.255.0.3').includes('iifname "ovinp" oifname "obr4097" snat ip to 10.255.0.3'));
});

/** A DNS query for `name` (type A), as a stub resolver sends it. */
function query(name: string, id = 0x1234): Buffer {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  return Buffer.concat([Buffer.from([id >> 8, id & 255, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels, Buffer.from([0, 0, 1, 0, 1])]);
}

test('DNS: reads the question; answers A records; NXDOMAIN keeps the question', (t) => {
  const q = query('Tasks.Web');
  const parsed = parseQuestion(q)!;
  t.deepEqual(parsed, { id: 0x1234, name: 'tasks.web', type: 1, end: q.length });
  const a = answer(q, parsed, ['10.10.0.3', '10.10.0.4'], 5);
  t.is(a.readUInt16BE(0), 0x1234);
  t.is(a.readUInt16BE(2), 0x8580, 'response, authoritative, recursion desired and available, no error');
  t.is(a.readUInt16BE(6), 2, 'two answers');
  const first = q.length;
  t.is(a.readUInt16BE(first), 0xc00c, 'the name points at the question');
  t.deepEqual([...a.subarray(first + 12, first + 16)], [10, 10, 0, 3]);
  t.deepEqual([...a.subarray(first + 28, first + 32)], [10, 10, 0, 4]);
  const nx = failure(q, parsed, RCODE_NXDOMAIN);
  t.is(nx.readUInt16BE(2) & 0xf, 3);
  t.is(nx.length, q.length);
  t.is(parseQuestion(Buffer.from([1, 2, 3])), undefined, 'garbage is ignored');
});

test('addresses are handed out in turn after the highest held, wrapping around', (t) => {
  const c = parseCidr('10.0.0.0/29'); // hosts .1 to .6
  t.deepEqual([...hostsAfter(c, '10.0.0.4')], ['10.0.0.5', '10.0.0.6', '10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4']);
  t.deepEqual([...hostsAfter(c, '0.0.0.0')], ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
});
