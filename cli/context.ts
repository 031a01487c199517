// CLI contexts, as `docker context` has them: named sets of manager addresses
// and an admin certificate, in ~/.orch/config.json (or $ORCH_CONFIG_DIR), one
// of them current. The CLI talks to --manager, else $ORCH_MANAGER, else the
// current context, else the local default; it shows --tls-dir, else
// $ORCH_TLS_DIR, else the current context's certificate.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { NotFoundError } from '../shared/errors.js';

export interface Context {
  managers: string[];
  /** The admin certificate's directory (ca.crt, node.key, node.crt). */
  tlsDir?: string;
  description?: string;
}

export interface Config {
  current?: string;
  contexts: Record<string, Context>;
}

function configDir(): string {
  return process.env.ORCH_CONFIG_DIR ?? join(homedir(), '.orch');
}

function configFile(): string {
  return join(configDir(), 'config.json');
}

export function loadConfig(): Config {
  try {
    const c = JSON.parse(readFileSync(configFile(), 'utf8')) as Partial<Config>;
    return { current: c.current, contexts: c.contexts ?? {} };
  } catch {
    return { contexts: {} };
  }
}

function saveConfig(c: Config): void {
  const file = configFile();
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(`${file}.tmp`, `${JSON.stringify(c, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

/** The current context, if one is current. */
export function currentContext(): Context | undefined {
  const c = loadConfig();
  return c.current ? c.contexts[c.current] : undefined;
}

/** Where a new context's admin certificate goes: beside the config file. */
export function contextTlsDir(name: string): string {
  return join(configDir(), 'certs', name);
}

/** Adds or replaces a context and makes it current; returns the context that was current before. */
export function useNewContext(name: string, ctx: Context): string | undefined {
  const c = loadConfig();
  const previous = c.current === name ? undefined : c.current;
  c.contexts[name] = ctx;
  c.current = name;
  saveConfig(c);
  return previous;
}

/** Makes `name` current (undefined: none, the local default). */
export function useContext(name: string | undefined): void {
  const c = loadConfig();
  if (name !== undefined && !c.contexts[name]) throw new NotFoundError(`no context "${name}"; \`orch context ls\` lists them`);
  c.current = name;
  saveConfig(c);
}

/** Removes a context; if it was current, `fallback` becomes current. */
export function removeContext(name: string, fallback: string | undefined): void {
  const c = loadConfig();
  delete c.contexts[name];
  if (c.current === name) c.current = fallback && c.contexts[fallback] ? fallback : undefined;
  saveConfig(c);
}
