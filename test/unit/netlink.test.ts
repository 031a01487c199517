// Netlink encoding and decoding against byte layouts written out by hand
// from <linux/netlink.h> and <linux/rtnetlink.h> (little-endian host).
import test from 'ava';
import { attr, decodeAttrs, encodeAttrs, ip4, mac } from '../../agent/network/netlink/attrs.js';
import { IFLA, IFLA_INFO, IFLA_VXLAN, NLM_F_ACK, NLM_F_REQUEST, RTM } from '../../agent/network/netlink/constants.js';
import { NetlinkError, isExists, isMissing } from '../../agent/network/netlink/index.js';
import { decodeLink, decodeNeigh, ifinfomsg, ndmsg, nlmsg } from '../../agent/network/netlink/messages.js';

const hex = (b: Buffer) => b.toString('hex');

test('attributes: length includes the 4-byte header, payload padded to 4', (t) => {
  t.is(hex(encodeAttrs([attr.str(IFLA.IFNAME, 'br0')])), '08000300' + '62723000');
  // "vxlan0" + NUL = 7 bytes → length 11, padded to 12.
  t.is(hex(encodeAttrs([attr.str(IFLA.IFNAME, 'vxlan0')])), '0b000300' + '76786c616e3000' + '00');
  t.is(hex(encodeAttrs([attr.u32(IFLA.MTU, 1450)])), '08000400' + 'aa050000');
  t.is(hex(encodeAttrs([attr.u8(IFLA_VXLAN.LEARNING, 0)])), '05000700' + '00000000');
});

test('the VXLAN port is the one big-endian attribute', (t) => {
  t.is(hex(encodeAttrs([attr.be16(IFLA_VXLAN.PORT, 4789)])), '06000f00' + '12b50000');
});

test('nested attributes carry their children, padded', (t) => {
  const info = attr.nested(IFLA.LINKINFO, [attr.str(IFLA_INFO.KIND, 'vxlan'), attr.nested(IFLA_INFO.DATA, [attr.u32(IFLA_VXLAN.ID, 42)])]);
  t.is(hex(encodeAttrs([info])), '1c001200' + '0a000100' + '76786c616e000000' + '0c000200' + '08000100' + '2a000000');
  const back = decodeAttrs(encodeAttrs([info]));
  const inner = decodeAttrs(back.get(IFLA.LINKINFO)!);
  t.is(inner.get(IFLA_INFO.KIND)!.toString(), 'vxlan\0');
  t.is(decodeAttrs(inner.get(IFLA_INFO.DATA)!).get(IFLA_VXLAN.ID)!.readUInt32LE(0), 42);
});

test('nlmsghdr and ifinfomsg layouts', (t) => {
  const body = ifinfomsg({ index: 7, flags: 1, change: 1 });
  t.is(hex(body), '00' + '00' + '0000' + '07000000' + '01000000' + '01000000');
  const msg = nlmsg(RTM.NEWLINK, NLM_F_REQUEST | NLM_F_ACK, 3, body);
  // len 32, type 16, flags 5, seq 3, pid 0
  t.is(hex(msg.subarray(0, 16)), '20000000' + '1000' + '0500' + '03000000' + '00000000');
});

test('ndmsg layout for an FDB entry', (t) => {
  const b = ndmsg({ family: 7, index: 9, state: 0xc0, flags: 2 });
  t.is(hex(b), '07' + '00' + '0000' + '09000000' + 'c000' + '02' + '00');
});

test('decodes a link dump message: name, flags, mtu, mac, master, vxlan data', (t) => {
  const attrs = [
    attr.str(IFLA.IFNAME, 'ovx4097'),
    attr.u32(IFLA.MTU, 1450),
    attr.bytes(IFLA.ADDRESS, mac('02:42:0a:0a:01:02')),
    attr.u32(IFLA.MASTER, 5),
    attr.nested(IFLA.LINKINFO, [
      attr.str(IFLA_INFO.KIND, 'vxlan'),
      attr.nested(IFLA_INFO.DATA, [attr.u32(IFLA_VXLAN.ID, 4097), attr.bytes(4, ip4('198.18.0.11')), attr.be16(IFLA_VXLAN.PORT, 4789), attr.u8(IFLA_VXLAN.LEARNING, 0), attr.u8(IFLA_VXLAN.PROXY, 1)]),
    ]),
  ];
  const link = decodeLink(ifinfomsg({ index: 12, flags: 1 }, attrs));
  t.deepEqual(link, {
    index: 12, name: 'ovx4097', up: true, mtu: 1450, mac: '02:42:0a:0a:01:02', master: 5, kind: 'vxlan',
    vxlan: { id: 4097, local: '198.18.0.11', port: 4789, learning: false, proxy: true },
  });
});

test('decodes a neighbour: family, state, flags, dst, lladdr', (t) => {
  const n = decodeNeigh(ndmsg({ family: 7, index: 3, state: 0x80, flags: 2 }, [attr.bytes(2, mac('02:42:0a:00:00:05')), attr.bytes(1, ip4('198.18.0.12'))]));
  t.deepEqual(n, { family: 7, index: 3, state: 0x80, flags: 2, dst: '198.18.0.12', mac: '02:42:0a:00:00:05', master: undefined });
});

test('kernel errors become typed errors with the errno name', (t) => {
  const e = new NetlinkError(17, 'create bridge x');
  t.is(e.code, 'EEXIST');
  t.is(e.message, 'netlink create bridge x: EEXIST');
  t.true(isExists(e));
  t.true(isMissing(new NetlinkError(19, 'get link y')));
  t.is(new NetlinkError(4242, 'x').code, 'errno 4242');
});

test('addresses are checked', (t) => {
  t.throws(() => ip4('10.0.0'), { message: /not an IPv4 address/ });
  t.throws(() => mac('02:42'), { message: /not a MAC address/ });
});
