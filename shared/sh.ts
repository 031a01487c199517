// Running a host tool (no shell): the lab's ip/iptables/nsenter/docker, and
// the agent's nft, conntrack and iptables (links, addresses, routes,
// neighbours and FDB entries go through netlink, never through a tool).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The system's own tools, looked up in the system's directories and not in
 * $PATH: under npm, $PATH starts with node_modules/.bin, where `nft` is a
 * JavaScript file tracer, not nftables.
 */
const SYSTEM_DIRS = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];

export function systemTool(name: string): string {
  if (name.includes('/')) return name;
  return SYSTEM_DIRS.map((d) => join(d, name)).find((p) => existsSync(p)) ?? name;
}

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly code: number | string | null,
    readonly stderr: string,
  ) {
    super(`\`${command}\` failed (${code}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
  }
}

/** Runs a command (no shell), at most `timeoutMs`; resolves with stdout, throws CommandError. */
export function sh(cmd: string, args: string[], opts: { timeoutMs?: number; input?: Buffer; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(systemTool(cmd), args, { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 64 << 20, env: opts.env ?? process.env, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new CommandError([cmd, ...args].join(' '), (err as NodeJS.ErrnoException).code ?? err.signal ?? null, stderr || err.message));
      else resolve(stdout);
    });
    // A command that exits before reading its input (nsenter into a namespace
    // that is gone, say) makes this write fail with EPIPE: its exit code
    // already tells, and an unhandled stream error would kill the process.
    child.stdin?.on('error', () => undefined);
    if (opts.input) child.stdin?.end(opts.input);
  });
}

/** Like sh(), but a failure is ignored (cleanup of what may not exist). */
export async function shQuiet(cmd: string, args: string[]): Promise<void> {
  await sh(cmd, args).catch(() => undefined);
}
