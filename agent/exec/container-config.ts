// A task's container options as the Docker Engine API spells them: the user,
// working directory, entrypoint, hostname and mounts (placeholders filled in
// for this task), capabilities, limits, and the rest of Docker's service
// container spec. Pure: engine.ts adds networks, ports and orch's labels.
import type Docker from 'dockerode';
import { Mount_Type, type ContainerSpec, type Mount } from '../../proto/generated/orch.js';
import { expandTemplate, type TemplateContext } from '../../shared/templates.js';

/** A mount's source for this task (a volume's name with its placeholders filled in). */
export function mountSource(m: Mount, ctx: TemplateContext): string {
  return m.type === Mount_Type.VOLUME ? expandTemplate(m.source, ctx) : m.source;
}

/** The container options of `spec` (not its image, command, env, labels, networks or ports). */
export function containerOptions(spec: ContainerSpec, ctx: TemplateContext): Partial<Docker.ContainerCreateOptions> {
  const limits = spec.resources?.limits;
  return {
    Entrypoint: spec.entrypoint.length ? spec.entrypoint : undefined,
    Hostname: spec.hostname ? expandTemplate(spec.hostname, ctx) : undefined,
    WorkingDir: spec.dir || undefined,
    User: spec.user || undefined,
    StopSignal: spec.stopSignal || undefined,
    Tty: spec.tty,
    HostConfig: {
      Init: spec.init,
      NanoCpus: Number(limits?.nanoCpus ?? 0n) || undefined,
      Memory: Number(limits?.memoryBytes ?? 0n) || undefined,
      PidsLimit: Number(limits?.pids ?? 0n) || undefined,
      GroupAdd: spec.groups.length ? spec.groups : undefined,
      ReadonlyRootfs: spec.readOnly,
      // dockerode's type asks for every optional field of a mount; the Engine does not.
      Mounts: spec.mounts.map((m) => dockerMount(m, ctx)) as unknown as Docker.MountConfig,
      ExtraHosts: spec.hosts.length ? spec.hosts.flatMap(extraHosts) : undefined,
      DnsSearch: spec.dnsConfig?.search.length ? spec.dnsConfig.search : undefined,
      DnsOptions: spec.dnsConfig?.options.length ? spec.dnsConfig.options : undefined,
      Sysctls: Object.keys(spec.sysctls).length ? spec.sysctls : undefined,
      CapAdd: spec.capabilityAdd.length ? spec.capabilityAdd : undefined,
      CapDrop: spec.capabilityDrop.length ? spec.capabilityDrop : undefined,
      Ulimits: spec.ulimits.length ? spec.ulimits.map((u) => ({ Name: u.name, Soft: Number(u.soft), Hard: Number(u.hard) })) : undefined,
      Privileged: spec.privileged,
      Devices: spec.devices.length
        ? spec.devices.map((d) => ({ PathOnHost: d.pathOnHost, PathInContainer: d.pathInContainer || d.pathOnHost, CgroupPermissions: d.cgroupPermissions || 'rwm' }))
        : undefined,
    },
  };
}

function dockerMount(m: Mount, ctx: TemplateContext): Record<string, unknown> {
  const base = { Target: m.target, ReadOnly: m.readOnly };
  switch (m.type) {
    case Mount_Type.BIND:
      return { ...base, Type: 'bind', Source: m.source };
    case Mount_Type.TMPFS:
      return { ...base, Type: 'tmpfs', TmpfsOptions: { SizeBytes: Number(m.tmpfsOptions?.sizeBytes ?? 0n) || undefined, Mode: m.tmpfsOptions?.mode || undefined } };
    default:
      // The volume itself is made beforehand, labelled as orch's (engine.ts).
      return { ...base, Type: 'volume', Source: mountSource(m, ctx), VolumeOptions: { NoCopy: m.volumeOptions?.noCopy ?? false } };
  }
}

/** "IP HOSTNAME..." (Docker's service spec) as the Engine's "HOSTNAME:IP", one per name. */
function extraHosts(entry: string): string[] {
  const [ip, ...names] = entry.trim().split(/\s+/);
  return names.map((n) => `${n}:${ip}`);
}
