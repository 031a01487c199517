// Published ports in Docker's spellings, and the rules every port given
// through the API must keep.
import test from 'ava';
import { PortConfig_Protocol as Protocol, PortConfig_PublishMode as Mode, PortConfig_TrafficPolicy as Traffic, type PortConfig } from '../../proto/generated/orch.js';
import { parsePublish, portName, validatePorts } from '../../shared/ports.js';

const port = (over: Partial<PortConfig>): PortConfig => ({ protocol: Protocol.TCP, targetPort: 80, publishedPort: 8080, publishMode: Mode.INGRESS, trafficPolicy: Traffic.CLUSTER, ...over });
const SAY = '; write it like 8080:80, 8080:80/udp, 7000-7002:7-9 or published=8080,target=80[,protocol=tcp|udp][,mode=ingress|host][,traffic=cluster|local]';

test('short forms: a mapping, a target alone, a protocol, ranges of the same length', (t) => {
  t.deepEqual(parsePublish('8080:80'), [port({})]);
  t.deepEqual(parsePublish(' 80 '), [port({ publishedPort: 0 })], 'a published port the manager picks');
  t.deepEqual(parsePublish('53:53/udp'), [port({ publishedPort: 53, targetPort: 53, protocol: Protocol.UDP })]);
  t.deepEqual(parsePublish('53:53/tcp'), [port({ publishedPort: 53, targetPort: 53 })]);
  t.deepEqual(parsePublish('7000-7002:7-9'), [port({ publishedPort: 7000, targetPort: 7 }), port({ publishedPort: 7001, targetPort: 8 }), port({ publishedPort: 7002, targetPort: 9 })]);
  t.deepEqual(parsePublish('7-8'), [port({ publishedPort: 0, targetPort: 7 }), port({ publishedPort: 0, targetPort: 8 })]);
  t.is(parsePublish('1000-1999:1000-1999').length, 1000, 'a thousand ports is the most');
});

test('the long form: every field, any order', (t) => {
  t.deepEqual(parsePublish('published=8080,target=80'), [port({})]);
  t.deepEqual(parsePublish('target=53,published=53,protocol=udp,mode=host,traffic=cluster'), [port({ publishedPort: 53, targetPort: 53, protocol: Protocol.UDP, publishMode: Mode.HOST })]);
  t.deepEqual(parsePublish('published=80,target=80,traffic=local,mode=ingress,protocol=tcp'), [port({ publishedPort: 80, trafficPolicy: Traffic.LOCAL })]);
  t.deepEqual(parsePublish('target=80'), [port({ publishedPort: 0 })]);
});

test('each wrong spelling is refused naming what is wrong and how to write it', (t) => {
  const refused: Array<[string, string]> = [
    ['8080:80/sctp', 'not a port mapping'],
    ['x8080:80', 'not a port mapping'],
    ['8080:80x', 'not a port mapping'],
    ['8080:', 'not a port mapping'],
    ['8080:0', '"0" is not a port (1 to 65535)'],
    ['70000:80', '"70000" is not a port (1 to 65535)'],
    ['8080:65536', '"65536" is not a port (1 to 65535)'],
    ['7002-7000:7-9', 'the range 7002-7000 runs backwards'],
    ['7000-7001:7-9', 'the published range has 2 ports and the target range 3'],
    ['1000-2000:1000-2000', 'the range 1000-2000 has more than 1000 ports'],
    ['published=8080', 'the target port is missing'],
    ['published=8080,target=', '"" is not a port (1 to 65535)'],
    ['published=8080,target=8x', '"8x" is not a port (1 to 65535)'],
    ['published=8080,target=x8', '"x8" is not a port (1 to 65535)'],
    ['published=8080,target=-1', '"-1" is not a port (1 to 65535)'],
    ['target=80,protocol=sctp', 'protocol "sctp" is not tcp or udp'],
    ['target=80,mode=routed', 'mode "routed" is not ingress or host'],
    ['target=80,traffic=nearby', 'traffic "nearby" is not cluster or local'],
    ['target=80,color=blue', 'unknown field "color"'],
  ];
  for (const [text, why] of refused) t.throws(() => parsePublish(text), { message: `--publish "${text}": ${why}${SAY}` }, text);
  t.deepEqual(parsePublish('65535:1'), [port({ publishedPort: 65535, targetPort: 1 })], 'the edges are ports');
});

test("a port's name is its published number and protocol", (t) => {
  t.is(portName(port({})), '8080/tcp');
  t.is(portName(port({ protocol: Protocol.UDP, publishedPort: 53 })), '53/udp');
});

test('ports through the API: in range, a published port in host mode, traffic=local only through the mesh, none published twice', (t) => {
  t.notThrows(() => validatePorts([port({ targetPort: 1, publishedPort: 65535 }), port({ targetPort: 65535, publishedPort: 0 }), port({ targetPort: 80, publishedPort: 0 })]), 'several ports the manager picks');
  t.notThrows(() => validatePorts([port({}), port({ protocol: Protocol.UDP })]), 'the same number over TCP and UDP');
  t.notThrows(() => validatePorts([port({ publishMode: Mode.HOST }), port({ publishedPort: 8081, trafficPolicy: Traffic.LOCAL })]));
  const refused: Array<[PortConfig[], string]> = [
    [[port({ targetPort: 0 })], 'port 8080:0: ports are 1 to 65535'],
    [[port({ targetPort: 65536 })], 'port 8080:65536: ports are 1 to 65535'],
    [[port({ publishedPort: 65536 })], 'port 65536:80: ports are 1 to 65535'],
    [[port({ publishMode: Mode.HOST, publishedPort: 0 })], 'port 80 in host mode needs a published port: published=PORT,target=80,mode=host'],
    [[port({ publishMode: Mode.HOST, trafficPolicy: Traffic.LOCAL })], "port 8080/tcp: traffic=local is for mode=ingress; a host-mode port already reaches only its own node's task"],
    [[port({}), port({ targetPort: 81 })], 'port 8080/tcp is published twice'],
  ];
  for (const [ports, message] of refused) t.throws(() => validatePorts(ports), { message }, message);
});
