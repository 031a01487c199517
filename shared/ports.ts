// Published ports in Docker's spellings: `-p 8080:80`, `-p 8080:80/udp`,
// `-p 80` (published port chosen by the manager), ranges `-p 7000-7002:7-9/udp`,
// and the long form
// `--publish published=8080,target=80,protocol=tcp,mode=ingress,traffic=local`
// (`traffic` is orch's: Kubernetes' externalTrafficPolicy).
import { PortConfig_Protocol, PortConfig_PublishMode, PortConfig_TrafficPolicy, type PortConfig } from '../proto/generated/orch.js';
import { InvalidArgumentError } from './errors.js';

const PROTOCOL: Record<string, PortConfig_Protocol> = { tcp: PortConfig_Protocol.TCP, udp: PortConfig_Protocol.UDP };
const MODE: Record<string, PortConfig_PublishMode> = { ingress: PortConfig_PublishMode.INGRESS, host: PortConfig_PublishMode.HOST };
const TRAFFIC: Record<string, PortConfig_TrafficPolicy> = { cluster: PortConfig_TrafficPolicy.CLUSTER, local: PortConfig_TrafficPolicy.LOCAL };

/** A port's name as people write it: 8080/udp. */
export function portName(p: PortConfig): string {
  return `${p.publishedPort}/${p.protocol === PortConfig_Protocol.UDP ? 'udp' : 'tcp'}`;
}

/** Parses one --publish value into its ports (a range gives several). */
export function parsePublish(text: string): PortConfig[] {
  const bad = (why: string) =>
    new InvalidArgumentError(`--publish "${text}": ${why}; write it like 8080:80, 8080:80/udp, 7000-7002:7-9 or published=8080,target=80[,protocol=tcp|udp][,mode=ingress|host][,traffic=cluster|local]`);
  const p: PortConfig = { protocol: PortConfig_Protocol.TCP, targetPort: 0, publishedPort: 0, publishMode: PortConfig_PublishMode.INGRESS, trafficPolicy: PortConfig_TrafficPolicy.CLUSTER };
  if (text.includes('=')) {
    for (const part of text.split(',')) {
      const [k, v = ''] = part.split('=');
      if (k === 'published') p.publishedPort = port(v, bad);
      else if (k === 'target') p.targetPort = port(v, bad);
      else if (k === 'protocol') p.protocol = PROTOCOL[v] ?? fail(bad(`protocol "${v}" is not tcp or udp`));
      else if (k === 'mode') p.publishMode = MODE[v] ?? fail(bad(`mode "${v}" is not ingress or host`));
      else if (k === 'traffic') p.trafficPolicy = TRAFFIC[v] ?? fail(bad(`traffic "${v}" is not cluster or local`));
      else throw bad(`unknown field "${k}"`);
    }
    if (!p.targetPort) throw bad('the target port is missing');
    return [p];
  }
  const m = /^(?:(\d+)(?:-(\d+))?:)?(\d+)(?:-(\d+))?(?:\/(tcp|udp))?$/.exec(text.trim());
  if (!m) throw bad('not a port mapping');
  const targets = range(m[3]!, m[4], bad);
  const published = m[1] ? range(m[1], m[2], bad) : undefined;
  if (published && published.length !== targets.length) throw bad(`the published range has ${published.length} ports and the target range ${targets.length}`);
  return targets.map((target, i) => ({ ...p, targetPort: target, publishedPort: published?.[i] ?? 0, protocol: PROTOCOL[m[5] ?? 'tcp']! }));
}

/** Checks ports given through the API (the one place for these rules; the CLI parses with parsePublish first). */
export function validatePorts(ports: PortConfig[]): void {
  const seen = new Set<string>();
  for (const p of ports) {
    if (p.targetPort < 1 || p.targetPort > 65535 || p.publishedPort > 65535) {
      throw new InvalidArgumentError(`port ${p.publishedPort}:${p.targetPort}: ports are 1 to 65535`);
    }
    if (p.publishMode === PortConfig_PublishMode.HOST && !p.publishedPort) {
      throw new InvalidArgumentError(`port ${p.targetPort} in host mode needs a published port: published=PORT,target=${p.targetPort},mode=host`);
    }
    if (p.publishMode === PortConfig_PublishMode.HOST && p.trafficPolicy === PortConfig_TrafficPolicy.LOCAL) {
      throw new InvalidArgumentError(`port ${portName(p)}: traffic=local is for mode=ingress; a host-mode port already reaches only its own node's task`);
    }
    if (p.publishedPort) {
      if (seen.has(portName(p))) throw new InvalidArgumentError(`port ${portName(p)} is published twice`);
      seen.add(portName(p));
    }
  }
}

function range(first: string, last: string | undefined, bad: (why: string) => InvalidArgumentError): number[] {
  const a = port(first, bad);
  const b = last === undefined ? a : port(last, bad);
  if (b < a) throw bad(`the range ${first}-${last} runs backwards`);
  if (b - a >= 1000) throw bad(`the range ${first}-${last} has more than 1000 ports`);
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
}

function port(v: string, bad: (why: string) => InvalidArgumentError): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > 65535) throw bad(`"${v}" is not a port (1 to 65535)`);
  return n;
}

function fail(err: Error): never {
  throw err;
}
