// The routing mesh's pure parts: published-port syntax, the nftables text
// generated for VIPs and ingress, and DNS wire-format answers.
import test from 'ava';
import { PortConfig_Protocol, PortConfig_PublishMode, PortConfig_TrafficPolicy } from '../../proto/generated/orch.js';
import { parsePublish, validatePorts } from '../../shared/ports.js';
import { hostsAfter, parseCidr } from '../../shared/ipam.js';
import { goneTable, ingressHostTable, ingressNsTable, vipTable } from '../../agent/network/lb.js';
import { answer, failure, parseQuestion, RCODE_NXDOMAIN } from '../../agent/network/dns-message.js';

test('--publish: short and long forms, ranges, defaults, and clear refusals', (t) => {
  t.deepEqual(parsePublish('8080:80'), [
    { protocol: PortConfig_Protocol.TCP, targetPort: 80, publishedPort: 8080, publishMode: PortConfig_PublishMode.INGRESS, trafficPolicy: PortConfig_TrafficPolicy.CLUSTER },
  ]);
  t.like(parsePublish('53:53/udp')[0], { protocol: PortConfig_Protocol.UDP, targetPort: 53, publishedPort: 53 });
  t.like(parsePublish('80')[0], { targetPort: 80, publishedPort: 0 });
  t.like(parsePublish('published=9090,target=80,mode=host,protocol=udp')[0], { publishedPort: 9090, targetPort: 80, publishMode: PortConfig_PublishMode.HOST, protocol: PortConfig_Protocol.UDP });
  t.like(parsePublish('published=8080,target=80,traffic=local')[0], { trafficPolicy: PortConfig_TrafficPolicy.LOCAL });
  t.deepEqual(
    parsePublish('7000-7002:7-9/udp').map((p) => [p.publishedPort, p.targetPort, p.protocol]),
    [[7000, 7, 1], [7001, 8, 1], [7002, 9, 1]],
  );
  t.throws(() => parsePublish('8080:'), { message: /--publish "8080:": not a port mapping/ });
  t.throws(() => parsePublish('70000:80'), { message: /"70000" is not a port/ });
  t.throws(() => parsePublish('published=80'), { message: /the target port is missing/ });
  t.throws(() => parsePublish('target=80,mode=both'), { message: /mode "both" is not ingress or host/ });
  t.throws(() => parsePublish('published=8080,target=80,traffic=bogus'), { message: /traffic "bogus" is not cluster or local/ });
  t.throws(() => parsePublish('7000-7002:7-8'), { message: /published range has 3 ports and the target range 2/ });
  t.throws(() => parsePublish('7002-7000:7-9'), { message: /runs backwards/ });
});

test('port rules: host mode needs a published port, traffic=local is for ingress, a port is published once', (t) => {
  const [a] = parsePublish('published=8080,target=80');
  const host = { ...a!, publishMode: PortConfig_PublishMode.HOST };
  t.notThrows(() => validatePorts([a!, ...parsePublish('8080:80/udp')]), 'the same number in another protocol is another port');
  t.throws(() => validatePorts([{ ...host, publishedPort: 0 }]), { message: /host mode needs a published port/ });
  t.throws(() => validatePorts([{ ...host, trafficPolicy: PortConfig_TrafficPolicy.LOCAL }]), { message: /traffic=local is for mode=ingress/ });
  t.throws(() => validatePorts([...parsePublish('7000-7002:7-9/udp'), ...parsePublish('7002:53/udp')]), { message: /port 7002\/udp is published twice/ });
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

test('ingress tables: published port to task address and target port; loopback through the link; refusals; SNAT except to direct backends', (t) => {
  const host = ingressHostTable('ovi4097', '169.254.77.1', [
    { protocol: 'tcp', published: 8080, target: 80, backends: ['10.255.0.6', '10.255.0.7'], refuseEmpty: true },
    { protocol: 'udp', published: 5353, target: 53, backends: ['10.255.0.8'], refuseEmpty: true },
    { protocol: 'tcp', published: 8081, target: 80, backends: [], refuseEmpty: true },
    { protocol: 'udp', published: 8082, target: 80, backends: [], refuseEmpty: true },
    { protocol: 'tcp', published: 9000, target: 80, backends: [], refuseEmpty: false },
  ]);
  t.true(host.includes('fib daddr type local tcp dport 8080 dnat ip to numgen random mod 2 map { 0 : 10.255.0.6 . 80, 1 : 10.255.0.7 . 80 }'));
  t.true(host.includes('fib daddr type local udp dport 5353 dnat ip to 10.255.0.8:53'));
  t.true(host.includes('type nat hook output priority -100'), 'also for connections made on the host itself');
  t.true(host.includes('oifname "ovi4097" ip saddr 127.0.0.0/8 snat ip to 169.254.77.1'), 'loopback clients leave with the link address');
  t.true(host.includes('iifname "ovi4097" ip daddr 127.0.0.0/8 drop'), 'nothing from the link reaches loopback');
  t.true(host.includes('tcp dport 8081 reject with tcp reset'), 'an ingress port with no backend here is refused at once');
  t.true(host.includes('udp dport 8082 reject\n'));
  t.false(host.includes('9000'), 'a host-mode port with no task here is not ours to answer');
  const ns = ingressNsTable('ovinp', 'obr4097', '10.255.0.3', [
    { protocol: 'tcp', addr: '10.255.0.9', port: 80 },
    { protocol: 'tcp', addr: '10.255.0.9', port: 80 },
    { protocol: 'udp', addr: '10.255.0.9', port: 7 },
  ]);
  t.true(ns.includes('iifname "ovinp" oifname "obr4097" ip daddr . tcp dport { 10.255.0.9 . 80 } return'));
  t.true(ns.includes('iifname "ovinp" oifname "obr4097" ip daddr . udp dport { 10.255.0.9 . 7 } return'));
  t.true(ns.indexOf('return') < ns.indexOf('snat ip to 10.255.0.3'), 'direct backends are passed before the SNAT');
  t.false(ingressNsTable('ovinp', 'obr4097', '10.255.0.3').includes('return'));
});

test('tombstones: frames from other hosts to endpoints that left are refused on the VXLAN device', (t) => {
  const text = goneTable('ovx4097', ['10.255.0.5', '10.255.0.9']);
  t.true(text.startsWith('table netdev orch-gone\ndelete table netdev orch-gone\n'));
  t.true(text.includes('type filter hook ingress device "ovx4097" priority filter; policy accept;'));
  t.true(text.includes('meta l4proto tcp ip daddr { 10.255.0.5, 10.255.0.9 } reject with tcp reset'));
  t.true(text.includes('ip daddr { 10.255.0.5, 10.255.0.9 } reject\n'));
  t.false(goneTable('ovx4097', []).includes('reject'), 'none left: nothing refused');
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
