// Published ports in Docker's spellings: `-p 8080:80`, `-p 8080:80/udp`,
// `-p 80` (published port chosen by the manager), and the long form
// `--publish published=8080,target=80,protocol=tcp,mode=ingress`.
import { PortConfig_Protocol, PortConfig_PublishMode, type PortConfig } from '../proto/generated/orch.js';
import { InvalidArgumentError } from './errors.js';

const PROTOCOL: Record<string, PortConfig_Protocol> = { tcp: PortConfig_Protocol.TCP, udp: PortConfig_Protocol.UDP };
const MODE: Record<string, PortConfig_PublishMode> = { ingress: PortConfig_PublishMode.INGRESS, host: PortConfig_PublishMode.HOST };

export function parsePublish(text: string): PortConfig {
  const bad = (why: string) => new InvalidArgumentError(`--publish "${text}": ${why}; write it like 8080:80, 8080:80/udp or published=8080,target=80[,protocol=tcp|udp][,mode=ingress|host]`);
  const p: PortConfig = { protocol: PortConfig_Protocol.TCP, targetPort: 0, publishedPort: 0, publishMode: PortConfig_PublishMode.INGRESS };
  if (text.includes('=')) {
    for (const part of text.split(',')) {
      const [k, v = ''] = part.split('=');
      if (k === 'published') p.publishedPort = port(v, bad);
      else if (k === 'target') p.targetPort = port(v, bad);
      else if (k === 'protocol') p.protocol = PROTOCOL[v] ?? fail(bad(`protocol "${v}" is not tcp or udp`));
      else if (k === 'mode') p.publishMode = MODE[v] ?? fail(bad(`mode "${v}" is not ingress or host`));
      else throw bad(`unknown field "${k}"`);
    }
  } else {
    const m = /^(?:(\d+):)?(\d+)(?:\/(tcp|udp))?$/.exec(text.trim());
    if (!m) throw bad('not a port mapping');
    p.publishedPort = m[1] ? port(m[1], bad) : 0;
    p.targetPort = port(m[2]!, bad);
    p.protocol = PROTOCOL[m[3] ?? 'tcp']!;
  }
  if (!p.targetPort) throw bad('the target port is missing');
  return p;
}

/** Checks ports given through the API (the CLI's are checked by parsePublish). */
export function validatePorts(ports: PortConfig[]): void {
  for (const p of ports) {
    if (p.targetPort < 1 || p.targetPort > 65535 || p.publishedPort > 65535) {
      throw new InvalidArgumentError(`port ${p.publishedPort}:${p.targetPort}: ports are 1 to 65535`);
    }
  }
}

function port(v: string, bad: (why: string) => InvalidArgumentError): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > 65535) throw bad(`"${v}" is not a port (1 to 65535)`);
  return n;
}

function fail(err: Error): never {
  throw err;
}
