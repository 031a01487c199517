// IPv4 arithmetic for networks: addresses, CIDRs, overlap, host addresses in
// turn, and the MAC an endpoint's address gives.
import test from 'ava';
import { addrIp, contains, firstHost, formatCidr, hostsAfter, intToIp, ipToInt, macFor, overlaps, parseCidr, size } from '../../shared/ipam.js';

test('addresses: four numbers of at most 255, and back', (t) => {
  t.is(ipToInt('10.10.1.5'), 0x0a0a0105);
  t.is(ipToInt('255.255.255.255'), 0xffffffff);
  t.is(intToIp(0xffffffff), '255.255.255.255');
  t.is(intToIp(ipToInt('198.18.0.1')), '198.18.0.1');
  for (const bad of ['10.10.1', '10.10.1.5.6', '10.10.1.256', '10.10.1.x', '10.10.1.-1', '10.10.1.1234', ' 10.10.1.5', '10.10.1.5 ']) {
    t.throws(() => ipToInt(bad), { message: `"${bad}" is not an IPv4 address` }, bad);
  }
});

test('CIDRs: the network address with its prefix; host bits, a prefix over 32 or other text refused with why', (t) => {
  t.deepEqual(parseCidr('10.10.1.0/24'), { base: 0x0a0a0100, prefix: 24 });
  t.deepEqual(parseCidr(' 10.0.0.0/8 '), { base: 0x0a000000, prefix: 8 });
  t.deepEqual(parseCidr('0.0.0.0/0'), { base: 0, prefix: 0 });
  t.deepEqual(parseCidr('10.10.1.7/32'), { base: 0x0a0a0107, prefix: 32 });
  t.is(formatCidr(parseCidr('172.16.0.0/12')), '172.16.0.0/12');
  t.throws(() => parseCidr('10.10.1.5/24'), { message: '"10.10.1.5/24" has host bits set; did you mean 10.10.1.0/24?' });
  for (const bad of ['10.10.1.0/33', '10.10.1.0', '10.10.1.0/24x', 'x10.10.1.0/24', '10.10.1.0/123', '10.1.0/24', '10.10.10/24', '10.10.1./24']) {
    t.throws(() => parseCidr(bad), { message: `"${bad}" is not an IPv4 CIDR like 10.10.1.0/24` }, bad);
  }
});

test('size, contains and overlap', (t) => {
  const c = parseCidr('10.10.1.0/24');
  t.is(size(c), 256);
  t.is(size(parseCidr('10.0.0.0/30')), 4);
  t.true(contains(c, '10.10.1.0'));
  t.true(contains(c, '10.10.1.255'));
  t.false(contains(c, '10.10.2.0'));
  t.false(contains(c, '10.10.0.255'));
  t.true(contains(parseCidr('0.0.0.0/0'), '203.0.113.9'), 'the /0 holds everything');
  t.true(overlaps(c, parseCidr('10.10.0.0/16')), 'inside a bigger block');
  t.true(overlaps(parseCidr('10.10.0.0/16'), c), 'either way round');
  t.true(overlaps(c, parseCidr('10.10.1.128/25')));
  t.false(overlaps(c, parseCidr('10.10.2.0/24')));
  t.false(overlaps(parseCidr('10.10.2.0/23'), parseCidr('10.10.4.0/24')));
});

test('hosts: the first after the network address; in turn after one, wrapping, never the network or broadcast address', (t) => {
  const c = parseCidr('10.0.0.0/29'); // hosts .1 to .6
  t.is(firstHost(c), '10.0.0.1');
  t.deepEqual([...hostsAfter(c, '10.0.0.0')], ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
  t.deepEqual([...hostsAfter(c, '10.0.0.1')], ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6', '10.0.0.1']);
  t.deepEqual([...hostsAfter(c, '10.0.0.4')], ['10.0.0.5', '10.0.0.6', '10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4']);
  t.deepEqual([...hostsAfter(c, '10.0.0.6')], ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6'], 'after the last host: from the first');
  t.deepEqual([...hostsAfter(c, '10.0.0.7')], ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6'], 'the broadcast address: from the first');
  t.deepEqual([...hostsAfter(c, '10.0.1.3')], ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6'], 'outside the block: from the first');
});

test("an endpoint's MAC is 02:42 and its address's four bytes; an address without its prefix", (t) => {
  t.is(macFor('10.10.1.5'), '02:42:0a:0a:01:05');
  t.is(macFor('255.0.16.1'), '02:42:ff:00:10:01');
  t.is(addrIp('10.10.1.5/24'), '10.10.1.5');
  t.is(addrIp('10.10.1.5'), '10.10.1.5');
});
