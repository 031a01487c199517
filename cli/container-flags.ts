// The container options of `service create` and `service update`, in
// Docker's spelling: mounts, user and groups, working directory, entrypoint,
// hostname, capabilities, sysctls, ulimits, DNS, extra hosts, init, tty,
// read-only root, stop signal, the pids limit, privileged mode and devices.
// Create sets them on a fresh spec; update edits each list with -add/-rm and
// leaves whatever is not named as it was.
import { Command } from 'commander';
import { Mount_Type, type ConfigReference, type ContainerSpec, type Device, type FileTarget, type Mount, type SecretReference, type Ulimit } from '../proto/generated/orch.js';
import { InvalidArgumentError } from '../shared/errors.js';
import { parseBytes } from '../shared/units.js';
import { collect, keyValues } from './commands/common.js';
import { edit, parseBool } from './flag-values.js';
import { readEnvFile, shellWords } from '../shared/words.js';

/** The container flags of `service create`, as commander fills them. */
export interface ContainerCreateFlags {
  mount: string[];
  workdir?: string;
  user?: string;
  group: string[];
  hostname?: string;
  entrypoint?: string;
  envFile: string[];
  capAdd: string[];
  capDrop: string[];
  readOnly?: boolean;
  init?: boolean;
  stopSignal?: string;
  sysctl: string[];
  ulimit: string[];
  tty?: boolean;
  dnsSearch: string[];
  dnsOption: string[];
  host: string[];
  limitPids?: string;
  privileged?: boolean;
  device: string[];
  secret: string[];
  config: string[];
}

/** The container flags of `service update`: lists edited with -add/-rm, booleans given as true/false. */
export interface ContainerUpdateFlags {
  mountAdd: string[];
  mountRm: string[];
  workdir?: string;
  user?: string;
  groupAdd: string[];
  groupRm: string[];
  hostname?: string;
  entrypoint?: string;
  capAdd: string[];
  capDrop: string[];
  readOnly?: string;
  init?: string;
  stopSignal?: string;
  sysctlAdd: string[];
  sysctlRm: string[];
  ulimitAdd: string[];
  ulimitRm: string[];
  tty?: string;
  dnsSearchAdd: string[];
  dnsSearchRm: string[];
  dnsOptionAdd: string[];
  dnsOptionRm: string[];
  hostAdd: string[];
  hostRm: string[];
  limitPids?: string;
  privileged?: string;
  deviceAdd: string[];
  deviceRm: string[];
  secretAdd: string[];
  secretRm: string[];
  configAdd: string[];
  configRm: string[];
}

export const CONTAINER_CREATE_DEFAULTS: ContainerCreateFlags = {
  mount: [], group: [], envFile: [], capAdd: [], capDrop: [], sysctl: [], ulimit: [], dnsSearch: [], dnsOption: [], host: [], device: [], secret: [], config: [],
};

const FILE_HELP = 'source=NAME[,target=PATH][,uid=N][,gid=N][,mode=0444], or NAME';

const MOUNT_HELP = 'type=volume|bind|tmpfs,source=…,target=/path[,readonly][,volume-label=K=V][,volume-nocopy][,tmpfs-size=64m][,tmpfs-mode=1777]';

export function containerCreateOptions(cmd: Command): Command {
  return cmd
    .option('--mount <mount>', `mount a filesystem: ${MOUNT_HELP} (repeatable)`, collect, [])
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .option('-u, --user <user>', 'user[:group] to run as')
    .option('--group <group>', 'supplementary group (repeatable)', collect, [])
    .option('--hostname <name>', 'container hostname; may use {{.Node.Hostname}}, {{.Service.Name}}, {{.Task.Slot}}')
    .option('--entrypoint <command>', "override the image's entrypoint (shell quoting)")
    .option('--env-file <file>', 'read environment variables from a file of KEY=VALUE lines (repeatable)', collect, [])
    .option('--cap-add <cap>', 'add a Linux capability (repeatable)', collect, [])
    .option('--cap-drop <cap>', 'drop a Linux capability (repeatable)', collect, [])
    .option('--read-only', "mount the container's root filesystem read-only")
    .option('--init', 'run an init inside the container that forwards signals and reaps processes')
    .option('--stop-signal <signal>', 'signal that stops the container (e.g. SIGINT)')
    .option('--sysctl <k=v>', 'namespaced kernel parameter (repeatable)', collect, [])
    .option('--ulimit <name=soft[:hard]>', 'ulimit, e.g. nofile=1024:2048 (repeatable)', collect, [])
    .option('-t, --tty', 'allocate a pseudo-TTY')
    .option('--dns-search <domain>', 'DNS search domain (repeatable)', collect, [])
    .option('--dns-option <opt>', 'DNS resolver option (repeatable)', collect, [])
    .option('--host <host:ip>', 'add an /etc/hosts entry (repeatable)', collect, [])
    .option('--limit-pids <n>', 'most processes in the container (0: no limit)')
    .option('--privileged', 'give the container every privilege (only on a cluster that allows it)')
    .option('--device <device>', 'a host device: /dev/x[:/dev/y][:rwm] (only on a cluster that allows it; repeatable)', collect, [])
    .option('--secret <secret>', `mount a secret (default /run/secrets/NAME): ${FILE_HELP} (repeatable)`, collect, [])
    .option('--config <config>', `mount a config (default /NAME): ${FILE_HELP} (repeatable)`, collect, []);
}

export function containerUpdateOptions(cmd: Command): Command {
  const bool = '(true|false)';
  return cmd
    .option('--mount-add <mount>', `add or replace a mount (by target): ${MOUNT_HELP} (repeatable)`, collect, [])
    .option('--mount-rm <target>', 'remove the mount at this target path (repeatable)', collect, [])
    .option('-w, --workdir <dir>', 'working directory inside the container ("" for the image\'s)')
    .option('-u, --user <user>', 'user[:group] to run as ("" for the image\'s)')
    .option('--group-add <group>', 'add a supplementary group (repeatable)', collect, [])
    .option('--group-rm <group>', 'remove a supplementary group (repeatable)', collect, [])
    .option('--hostname <name>', 'container hostname ("" for the default)')
    .option('--entrypoint <command>', 'override the image\'s entrypoint ("" for the image\'s own)')
    .option('--cap-add <cap>', 'add a Linux capability (repeatable)', collect, [])
    .option('--cap-drop <cap>', 'drop a Linux capability (repeatable)', collect, [])
    .option('--read-only <bool>', `read-only root filesystem ${bool}`)
    .option('--init <bool>', `run an init inside the container ${bool}`)
    .option('--stop-signal <signal>', 'signal that stops the container ("" for the image\'s)')
    .option('--sysctl-add <k=v>', 'add or change a sysctl (repeatable)', collect, [])
    .option('--sysctl-rm <key>', 'remove a sysctl (repeatable)', collect, [])
    .option('--ulimit-add <name=soft[:hard]>', 'add or change a ulimit (repeatable)', collect, [])
    .option('--ulimit-rm <name>', 'remove a ulimit (repeatable)', collect, [])
    .option('-t, --tty <bool>', `allocate a pseudo-TTY ${bool}`)
    .option('--dns-search-add <domain>', 'add a DNS search domain (repeatable)', collect, [])
    .option('--dns-search-rm <domain>', 'remove a DNS search domain (repeatable)', collect, [])
    .option('--dns-option-add <opt>', 'add a DNS resolver option (repeatable)', collect, [])
    .option('--dns-option-rm <opt>', 'remove a DNS resolver option (repeatable)', collect, [])
    .option('--host-add <host:ip>', 'add an /etc/hosts entry (repeatable)', collect, [])
    .option('--host-rm <host:ip>', 'remove an /etc/hosts entry (repeatable)', collect, [])
    .option('--limit-pids <n>', 'most processes in the container (0: no limit)')
    .option('--privileged <bool>', `every privilege (only on a cluster that allows it) ${bool}`)
    .option('--device-add <device>', 'add a host device: /dev/x[:/dev/y][:rwm] (repeatable)', collect, [])
    .option('--device-rm <path>', 'remove the device at this host path (repeatable)', collect, [])
    .option('--secret-add <secret>', `add or replace (by name) a secret: ${FILE_HELP} (repeatable)`, collect, [])
    .option('--secret-rm <name>', 'stop mounting a secret (repeatable)', collect, [])
    .option('--config-add <config>', `add or replace (by name) a config: ${FILE_HELP} (repeatable)`, collect, [])
    .option('--config-rm <name>', 'stop mounting a config (repeatable)', collect, []);
}

/** Sets create's container options on `c`, and the variables of --env-file before those of --env. */
export function applyContainerCreate(c: ContainerSpec, f: ContainerCreateFlags): void {
  c.env = [...f.envFile.flatMap((p) => readEnvFile(p, '--env-file')), ...c.env];
  c.mounts = f.mount.map(parseMount);
  c.dir = f.workdir ?? '';
  c.user = f.user ?? '';
  c.groups = f.group;
  c.hostname = f.hostname ?? '';
  c.entrypoint = f.entrypoint !== undefined ? shellWords(f.entrypoint, '--entrypoint') : [];
  c.capabilityAdd = f.capAdd;
  c.capabilityDrop = f.capDrop;
  c.readOnly = !!f.readOnly;
  c.init = f.init ? true : undefined;
  c.stopSignal = f.stopSignal ?? '';
  c.sysctls = keyValues(f.sysctl, '--sysctl');
  c.ulimits = f.ulimit.map((u) => parseUlimit(u, '--ulimit'));
  c.tty = !!f.tty;
  c.dnsConfig = { search: f.dnsSearch, options: f.dnsOption };
  c.hosts = f.host.map((h) => parseHost(h, '--host'));
  c.privileged = !!f.privileged;
  c.devices = f.device.map((d) => parseDevice(d, '--device'));
  c.secrets = f.secret.map((x) => secretRef(parseFileRef(x, '--secret')));
  c.configs = f.config.map((x) => configRef(parseFileRef(x, '--config')));
  if (f.limitPids !== undefined) c.resources = { ...c.resources!, limits: { ...c.resources!.limits!, pids: parsePids(f.limitPids) } };
}

/** Applies update's container flags to `c`; removing what is not there is an error naming the service. */
export function applyContainerUpdate(c: ContainerSpec, f: ContainerUpdateFlags, service: string): void {
  const missing = (flag: string, what: string) => new InvalidArgumentError(`${flag}: ${what} is not set on service ${service}`);
  c.mounts = edit(c.mounts, f.mountAdd.map(parseMount), f.mountRm, (m) => m.target, (t) => missing('--mount-rm', `a mount at ${t}`));
  if (f.workdir !== undefined) c.dir = f.workdir;
  if (f.user !== undefined) c.user = f.user;
  c.groups = edit(c.groups, f.groupAdd, f.groupRm, (x) => x, (g) => missing('--group-rm', `group ${g}`));
  if (f.hostname !== undefined) c.hostname = f.hostname;
  if (f.entrypoint !== undefined) c.entrypoint = f.entrypoint === '' ? [] : shellWords(f.entrypoint, '--entrypoint');
  // As Docker: adding a capability takes it off the drop list, and the other way round.
  c.capabilityAdd = [...c.capabilityAdd.filter((x) => !f.capDrop.includes(x) && !f.capAdd.includes(x)), ...f.capAdd];
  c.capabilityDrop = [...c.capabilityDrop.filter((x) => !f.capAdd.includes(x) && !f.capDrop.includes(x)), ...f.capDrop];
  if (f.readOnly !== undefined) c.readOnly = parseBool(f.readOnly, '--read-only');
  if (f.init !== undefined) c.init = parseBool(f.init, '--init');
  if (f.stopSignal !== undefined) c.stopSignal = f.stopSignal;
  const sysctls = { ...c.sysctls };
  for (const k of f.sysctlRm) {
    if (!(k in sysctls)) throw missing('--sysctl-rm', k);
    delete sysctls[k];
  }
  c.sysctls = { ...sysctls, ...keyValues(f.sysctlAdd, '--sysctl-add') };
  c.ulimits = edit(c.ulimits, f.ulimitAdd.map((x) => parseUlimit(x, '--ulimit-add')), f.ulimitRm, (u) => u.name, (n) => missing('--ulimit-rm', `ulimit ${n}`));
  if (f.tty !== undefined) c.tty = parseBool(f.tty, '--tty');
  const dns = c.dnsConfig ?? { search: [], options: [] };
  c.dnsConfig = {
    search: edit(dns.search, f.dnsSearchAdd, f.dnsSearchRm, (x) => x, (d) => missing('--dns-search-rm', `search domain ${d}`)),
    options: edit(dns.options, f.dnsOptionAdd, f.dnsOptionRm, (x) => x, (o) => missing('--dns-option-rm', `DNS option ${o}`)),
  };
  const rmHosts = f.hostRm.map((h) => parseHost(h, '--host-rm'));
  c.hosts = edit(c.hosts, f.hostAdd.map((h) => parseHost(h, '--host-add')), rmHosts, (x) => x, (h) => missing('--host-rm', `host entry "${h}"`));
  if (f.limitPids !== undefined) c.resources = { ...c.resources!, limits: { ...c.resources!.limits!, pids: parsePids(f.limitPids) } };
  if (f.privileged !== undefined) c.privileged = parseBool(f.privileged, '--privileged');
  c.devices = edit(c.devices, f.deviceAdd.map((x) => parseDevice(x, '--device-add')), f.deviceRm, (d) => d.pathOnHost, (p) => missing('--device-rm', `device ${p}`));
  c.secrets = edit(c.secrets, f.secretAdd.map((x) => secretRef(parseFileRef(x, '--secret-add'))), f.secretRm, (r) => r.secretName, (n) => missing('--secret-rm', `secret ${n}`));
  c.configs = edit(c.configs, f.configAdd.map((x) => configRef(parseFileRef(x, '--config-add'))), f.configRm, (r) => r.configName, (n) => missing('--config-rm', `config ${n}`));
}

/** `--secret`/`--config`: NAME, or source=NAME[,target=PATH][,uid=N][,gid=N][,mode=OCTAL] (the manager fills in the default target). */
export function parseFileRef(text: string, flag: string): { name: string; file: FileTarget } {
  if (!text.includes('=')) return { name: text.trim(), file: { name: '', uid: 0, gid: 0, mode: 0 } };
  const out = { name: '', file: { name: '', uid: 0, gid: 0, mode: 0 } };
  for (const field of text.split(',')) {
    const eq = field.indexOf('=');
    const key = field.slice(0, Math.max(eq, 0)).trim().toLowerCase();
    const value = field.slice(eq + 1).trim();
    if (eq < 0 || !value) throw new InvalidArgumentError(`${flag}: "${field}" is not KEY=VALUE in "${text}"; use ${FILE_HELP}`);
    if (key === 'source' || key === 'src') out.name = value;
    else if (key === 'target') out.file.name = value;
    else if (key === 'uid' || key === 'gid') {
      if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`${flag}: ${key} "${value}" is not a number`);
      out.file[key] = Number(value);
    } else if (key === 'mode') {
      if (!/^0?[0-7]{3}$/.test(value)) throw new InvalidArgumentError(`${flag}: mode "${value}" is not an octal mode such as 0444`);
      out.file.mode = parseInt(value, 8);
    } else throw new InvalidArgumentError(`${flag}: unknown field "${key}"; use ${FILE_HELP}`);
  }
  if (!out.name) throw new InvalidArgumentError(`${flag}: "${text}" names no source; use ${FILE_HELP}`);
  return out;
}

const secretRef = (r: { name: string; file: FileTarget }): SecretReference => ({ secretId: '', secretName: r.name, file: r.file });
const configRef = (r: { name: string; file: FileTarget }): ConfigReference => ({ configId: '', configName: r.name, file: r.file });

/**
 * `--mount` in Docker's CSV spelling. Keys: type (volume, the default; bind;
 * tmpfs), source/src, target/dst/destination, readonly/ro (alone: true),
 * volume-label, volume-nocopy, tmpfs-size, tmpfs-mode (octal).
 */
export function parseMount(text: string): Mount {
  const m: Mount = { type: Mount_Type.VOLUME, source: '', target: '', readOnly: false, volumeOptions: undefined, tmpfsOptions: undefined };
  let type = 'volume';
  const volumeLabels: Record<string, string> = {};
  let noCopy = false;
  let tmpfsSize: bigint | undefined;
  let tmpfsMode: number | undefined;
  for (const field of text.split(',')) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).trim().toLowerCase();
    const value = eq < 0 ? undefined : field.slice(eq + 1);
    const need = () => {
      if (value === undefined || value === '') throw new InvalidArgumentError(`--mount: "${key}" needs a value (${key}=…) in "${text}"`);
      return value;
    };
    switch (key) {
      case 'type':
        type = need();
        break;
      case 'source':
      case 'src':
        m.source = need();
        break;
      case 'target':
      case 'dst':
      case 'destination':
        m.target = need();
        break;
      case 'readonly':
      case 'ro':
        m.readOnly = value === undefined ? true : parseBool(value, `--mount ${key}`);
        break;
      case 'volume-label': {
        const v = need();
        const i = v.indexOf('=');
        volumeLabels[i < 0 ? v : v.slice(0, i)] = i < 0 ? '' : v.slice(i + 1);
        break;
      }
      case 'volume-nocopy':
        noCopy = value === undefined ? true : parseBool(value, '--mount volume-nocopy');
        break;
      case 'tmpfs-size':
        tmpfsSize = parseBytes(need(), '--mount tmpfs-size');
        break;
      case 'tmpfs-mode':
        if (!/^[0-7]{3,4}$/.test(need())) throw new InvalidArgumentError(`--mount tmpfs-mode: "${value}" is not an octal mode such as 1777`);
        tmpfsMode = parseInt(value!, 8);
        break;
      default:
        throw new InvalidArgumentError(`--mount: unknown field "${key}" in "${text}"; use ${MOUNT_HELP}`);
    }
  }
  const types: Record<string, Mount_Type> = { volume: Mount_Type.VOLUME, bind: Mount_Type.BIND, tmpfs: Mount_Type.TMPFS };
  if (types[type] === undefined) throw new InvalidArgumentError(`--mount: unknown type "${type}"; use volume, bind or tmpfs`);
  m.type = types[type]!;
  if (m.type !== Mount_Type.VOLUME && (noCopy || Object.keys(volumeLabels).length)) throw new InvalidArgumentError(`--mount: volume-label and volume-nocopy are for type=volume, not ${type}`);
  if (m.type !== Mount_Type.TMPFS && (tmpfsSize !== undefined || tmpfsMode !== undefined)) throw new InvalidArgumentError(`--mount: tmpfs-size and tmpfs-mode are for type=tmpfs, not ${type}`);
  if (m.type === Mount_Type.VOLUME && (noCopy || Object.keys(volumeLabels).length)) m.volumeOptions = { noCopy, labels: volumeLabels };
  if (m.type === Mount_Type.TMPFS) m.tmpfsOptions = { sizeBytes: tmpfsSize ?? 0n, mode: tmpfsMode ?? 0 };
  return m;
}

/** `nofile=1024` or `nofile=1024:2048`. */
function parseUlimit(text: string, flag: string): Ulimit {
  const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(text.trim());
  if (!m) throw new InvalidArgumentError(`${flag}: "${text}" is not NAME=SOFT[:HARD] with whole numbers, e.g. nofile=1024:2048`);
  return { name: m[1]!, soft: BigInt(m[2]!), hard: BigInt(m[3] ?? m[2]!) };
}

/** `--host name:ip` (Docker's CLI) as the spec's "IP NAME". */
function parseHost(text: string, flag: string): string {
  const i = text.indexOf(':');
  if (i <= 0 || i === text.length - 1) throw new InvalidArgumentError(`${flag}: "${text}" is not HOST:IP, e.g. db.local:10.0.0.5`);
  return `${text.slice(i + 1)} ${text.slice(0, i)}`;
}

/** `/dev/x[:/dev/y][:rwm]`. */
function parseDevice(text: string, flag: string): Device {
  const parts = text.split(':');
  const perms = parts.length > 1 && /^[rwm]+$/.test(parts[parts.length - 1]!) ? parts.pop()! : '';
  if (parts.length > 2 || !parts[0]) throw new InvalidArgumentError(`${flag}: "${text}" is not /dev/HOST[:/dev/CONTAINER][:rwm]`);
  return { pathOnHost: parts[0], pathInContainer: parts[1] ?? '', cgroupPermissions: perms };
}

function parsePids(text: string): bigint {
  if (!/^\d+$/.test(text.trim())) throw new InvalidArgumentError(`--limit-pids: "${text}" is not a whole number (0: no limit)`);
  return BigInt(text.trim());
}

