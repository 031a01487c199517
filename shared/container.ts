// Validation of a service's container options (mounts, ulimits, devices,
// hosts, capabilities...): part of validateServiceSpec, so the CLI and the
// manager refuse the same things with the same words.
import { isIPv4, isIPv6 } from 'node:net';
import { Mount_Type, type ContainerSpec } from '../proto/generated/orch.js';
import { InvalidArgumentError } from './errors.js';
import { validateTemplate } from './templates.js';

/** The resource limits `--ulimit` may set (setrlimit(2)'s, as Docker names them). */
const ULIMITS = new Set(['core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack']);
const VOLUME_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const HOSTNAME_RE = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$/;
const CAPABILITY_RE = /^(CAP_)?[A-Z_]+$|^ALL$/;
const SIGNAL_RE = /^(SIG)?[A-Z][A-Z0-9+-]*$|^\d+$/;

/** Throws InvalidArgumentError naming the first bad container option. */
export function validateContainer(c: ContainerSpec): void {
  const targets = new Set<string>();
  for (const m of c.mounts) {
    const what = `--mount target=${m.target || '?'}`;
    if (!m.target) throw new InvalidArgumentError('--mount: every mount needs target=/path in the container');
    if (!m.target.startsWith('/') || m.target === '/') throw new InvalidArgumentError(`${what}: the target must be an absolute path other than /`);
    if (targets.has(m.target)) throw new InvalidArgumentError(`${what}: two mounts have the same target`);
    targets.add(m.target);
    if (m.type === Mount_Type.BIND && !m.source.startsWith('/')) {
      throw new InvalidArgumentError(`${what}: a bind mount needs an absolute host path as its source (got "${m.source}")`);
    }
    if (m.type === Mount_Type.TMPFS && m.source) throw new InvalidArgumentError(`${what}: a tmpfs mount has no source`);
    if (m.type === Mount_Type.VOLUME && m.source) {
      validateTemplate(m.source, `${what} source`);
      const plain = m.source.replace(/\{\{[^}]*\}\}/g, 'x');
      if (!VOLUME_NAME_RE.test(plain)) throw new InvalidArgumentError(`${what}: "${m.source}" is not a volume name (letters, digits, '_', '.', '-'; placeholders allowed)`);
    }
  }
  if (c.hostname) {
    validateTemplate(c.hostname, '--hostname');
    if (!HOSTNAME_RE.test(c.hostname.replace(/\{\{[^}]*\}\}/g, 'x'))) throw new InvalidArgumentError(`--hostname: "${c.hostname}" is not a hostname (letters, digits, '.', '-'; up to 63)`);
  }
  for (const u of c.ulimits) {
    if (!ULIMITS.has(u.name)) throw new InvalidArgumentError(`--ulimit: unknown limit "${u.name}"; use one of ${[...ULIMITS].join(', ')}`);
    if (u.soft > u.hard && u.hard >= 0n) throw new InvalidArgumentError(`--ulimit ${u.name}: the soft limit ${u.soft} is above the hard limit ${u.hard}`);
  }
  for (const d of c.devices) {
    if (!d.pathOnHost.startsWith('/') || (d.pathInContainer && !d.pathInContainer.startsWith('/'))) throw new InvalidArgumentError(`--device ${d.pathOnHost}: device paths must be absolute`);
    if (!/^[rwm]*$/.test(d.cgroupPermissions)) throw new InvalidArgumentError(`--device ${d.pathOnHost}: permissions "${d.cgroupPermissions}" must be made of r, w and m`);
  }
  for (const h of c.hosts) {
    const [ip, ...names] = h.trim().split(/\s+/);
    if (!ip || !(isIPv4(ip) || isIPv6(ip)) || names.length === 0) throw new InvalidArgumentError(`--host: "${h}" is not a hostname and an IP address (give HOST:IP)`);
  }
  for (const k of Object.keys(c.sysctls)) if (!/^[a-z0-9_.\-/]+$/.test(k)) throw new InvalidArgumentError(`--sysctl: "${k}" is not a kernel parameter name (e.g. net.core.somaxconn)`);
  for (const cap of [...c.capabilityAdd, ...c.capabilityDrop]) {
    if (!CAPABILITY_RE.test(cap)) throw new InvalidArgumentError(`--cap-add/--cap-drop: "${cap}" is not a capability name (e.g. NET_ADMIN or CAP_NET_ADMIN, or ALL)`);
  }
  if (c.stopSignal && !SIGNAL_RE.test(c.stopSignal)) throw new InvalidArgumentError(`--stop-signal: "${c.stopSignal}" is not a signal (e.g. SIGINT or 2)`);
  for (const [flag, names] of [['--secret', c.secrets.map((r) => r.secretName || r.secretId)], ['--config', c.configs.map((r) => r.configName || r.configId)]] as const) {
    if (names.some((n) => !n)) throw new InvalidArgumentError(`${flag}: every reference needs source=NAME`);
    const twice = names.find((n, i) => names.indexOf(n) !== i);
    if (twice) throw new InvalidArgumentError(`${flag} ${twice}: mounted twice; give it once (a second target needs another ${flag.slice(2)})`);
  }
  for (const r of [...c.secrets, ...c.configs]) {
    if (r.file?.name === '/') throw new InvalidArgumentError(`target=/ is not a file path`);
    if ((r.file?.mode ?? 0) > 0o777) throw new InvalidArgumentError(`mode ${r.file!.mode.toString(8)} is not a file mode such as 0444`);
  }
  if ((c.resources?.limits?.pids ?? 0n) < 0n) throw new InvalidArgumentError('--limit-pids cannot be negative');
}

/** Where a secret or a config is mounted: an absolute target as given; a relative one (or none: its name) under /run/secrets/ for a secret, / for a config (Docker's defaults). */
export function fileTargetPath(kind: 'secret' | 'config', target: string): string {
  if (target.startsWith('/')) return target;
  return kind === 'secret' ? `/run/secrets/${target}` : `/${target}`;
}
