// Reading Compose files as `docker stack deploy -c` does: YAML (anchors and
// merge keys included), `${VAR}` interpolation from the environment and the
// project's .env file, `extends`, several files merged in order, and the
// Compose Specification's schema. Every problem names the file, the line and
// the key: "docker-compose.yml:14: services.web.deploy.replicas: must be an integer".
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { isMap, isPair, isScalar, LineCounter, parseDocument, visit, type Document, type Node } from 'yaml';
import { InvalidArgumentError } from '../shared/errors.js';
import { checkSchema } from './schema.js';

/** One file as read: its text's positions are kept to name lines in errors. */
export interface Source {
  file: string;
  doc: Document;
  lines: LineCounter;
}

/** A Compose model: the files merged, interpolated, extended and checked. */
export interface Loaded {
  model: ComposeModel;
  sources: Source[];
  /** The project directory (the first file's): relative paths start there. */
  dir: string;
  /** What the reader should know but that did not stop it (unset variables…). */
  warnings: string[];
  /** The variables the files were read with: the environment over the project's .env. */
  env: Record<string, string | undefined>;
}

/** The parts of a Compose file orch reads (the schema has checked the shapes). */
export interface ComposeModel {
  version?: string;
  services: Record<string, Record<string, any>>;
  networks?: Record<string, Record<string, any> | null>;
  volumes?: Record<string, Record<string, any> | null>;
  secrets?: Record<string, Record<string, any>>;
  configs?: Record<string, Record<string, any>>;
  [key: string]: unknown;
}

/** A problem at a key of the model; `locate` turns it into "file:line: key: what". */
export class ComposeProblem extends InvalidArgumentError {
  constructor(
    readonly path: (string | number)[],
    readonly what: string,
  ) {
    super(`${path.join('.')}: ${what}`);
  }
}

/** Reads, interpolates, extends, merges and checks `files` (the first one's directory is the project's). */
export function loadCompose(files: string[], environment: NodeJS.ProcessEnv = process.env): Loaded {
  if (files.length === 0) throw new InvalidArgumentError('give a Compose file: -c docker-compose.yml');
  const dir = dirname(resolve(files[0]!));
  const env = { ...dotEnv(join(dir, '.env')), ...environment };
  const warnings: string[] = [];
  const sources: Source[] = [];
  let merged: Record<string, any> = {};
  for (const file of files) {
    const source = readSource(file, env, warnings);
    sources.push(source);
    const model = source.doc.toJS({ maxAliasCount: 10_000 }) as Record<string, any> | null;
    if (model === null || typeof model !== 'object' || Array.isArray(model)) throw new InvalidArgumentError(`${file}:1: the file must be a mapping with a services key`);
    let extended: Record<string, any>;
    try {
      extended = resolveExtends(model, file, env, warnings, sources);
    } catch (err) {
      if (err instanceof ComposeProblem) throw new InvalidArgumentError(locate({ sources }, err.path, err.what));
      throw err;
    }
    merged = deepMerge(merged, normalize(extended)) as Record<string, any>;
  }
  dropNewerKeys(merged, warnings);
  const loaded: Loaded = { model: merged as ComposeModel, sources, dir, warnings, env };
  const problems = checkSchema(merged);
  if (problems.length) throw new InvalidArgumentError(problems.map((p) => locate(loaded, p.path, p.message)).join('\n'));
  if (!merged.services || Object.keys(merged.services).length === 0) throw new InvalidArgumentError(`${files[0]}: no services: a stack needs at least one`);
  return loaded;
}

/** Keys of later versions of the Compose Specification than the schema the host ships, with what orch makes of them. */
const NEWER_TOP: Record<string, string> = { name: "the stack's name is the one `stack deploy` is given", include: 'not supported: merge files with several -c', models: 'not supported' };
const NEWER_SERVICE: Record<string, string> = { develop: 'not supported', annotations: 'not supported', attach: 'not supported', label_file: 'not supported', provider: 'not supported', models: 'not supported', gpus: 'not supported', post_start: 'not supported', pre_stop: 'not supported', use_api_socket: 'not supported' };

/** Takes out (with a warning each) what newer Compose files may hold and the schema would call unknown. */
function dropNewerKeys(model: Record<string, any>, warnings: string[]): void {
  for (const [k, why] of Object.entries(NEWER_TOP)) {
    if (!(k in model)) continue;
    warnings.push(`${k}: ${why}; ignored`);
    delete model[k];
  }
  for (const [name, svc] of Object.entries((model.services ?? {}) as Record<string, any>)) {
    for (const [k, why] of Object.entries(NEWER_SERVICE)) {
      if (!svc || typeof svc !== 'object' || !(k in svc)) continue;
      warnings.push(`services.${name}.${k}: ${why}; ignored`);
      delete svc[k];
    }
  }
}

/** "file:line: services.web.image: what", at the last file that sets the key (or its nearest parent). */
export function locate(loaded: Pick<Loaded, 'sources'>, path: (string | number)[], what: string): string {
  for (let depth = path.length; depth >= 0; depth--) {
    for (const s of [...loaded.sources].reverse()) {
      const offset = offsetOf(s.doc, path.slice(0, depth));
      if (offset !== undefined) return `${s.file}:${s.lines.linePos(offset).line}: ${path.join('.') || '(top)'}: ${what}`;
    }
  }
  return `${loaded.sources[0]?.file ?? 'compose file'}: ${path.join('.')}: ${what}`;
}

/** Where a key starts in a document: the key itself for a mapping entry, so "unknown key" points at it. */
function offsetOf(doc: Document, path: (string | number)[]): number | undefined {
  if (path.length === 0) return doc.contents?.range?.[0];
  const parent = path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1), true);
  const last = path[path.length - 1];
  if (isMap(parent)) {
    const pair = parent.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(last));
    return (pair?.key as Node | undefined)?.range?.[0];
  }
  const node = doc.getIn(path, true) as Node | undefined;
  return node?.range?.[0];
}

function readSource(file: string, env: Record<string, string | undefined>, warnings: string[]): Source {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InvalidArgumentError(`${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, merge: true, uniqueKeys: true, prettyErrors: false, keepSourceTokens: true });
  const bad = doc.errors[0];
  if (bad) throw new InvalidArgumentError(`${file}:${lines.linePos(bad.pos[0]).line}: invalid YAML: ${bad.message.split('\n')[0]}`);
  const source = { file, doc, lines };
  interpolateDocument(source, env, warnings);
  return source;
}

/** `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `${VAR:+other}`, `$VAR`, `$$` in every value (not keys). */
function interpolateDocument(source: Source, env: Record<string, string | undefined>, warnings: string[]): void {
  visit(source.doc, {
    Scalar(key, node) {
      if (key === 'key') return;
      // 0440 is octal, as Compose's YAML reader (YAML 1.1's rule) takes it: file modes are written so.
      const raw = node.srcToken && 'source' in node.srcToken ? node.srcToken.source : '';
      if (typeof node.value === 'number' && node.type === 'PLAIN' && /^0[0-7]+$/.test(raw)) node.value = parseInt(raw, 8);
      if (typeof node.value !== 'string' || !node.value.includes('$')) return;
      const at = `${source.file}:${source.lines.linePos(node.range?.[0] ?? 0).line}`;
      const text = interpolate(node.value, env, (why) => new InvalidArgumentError(`${at}: ${why}`), (name) => warnings.push(`${at}: variable ${name} is not set; it stands for an empty string`));
      // An unquoted value is read again as YAML would have read it: `replicas: ${N}` is a number.
      node.value = node.type === 'PLAIN' && /^(-?\d+(\.\d+)?|true|false)$/.test(text) ? JSON.parse(text) : text;
    },
  });
}

/** Interpolates one value (exported for its tests). */
export function interpolate(text: string, env: Record<string, string | undefined>, fail: (why: string) => Error, unset: (name: string) => void = () => undefined): string {
  return text.replace(/\$(?:(\$)|\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*)|(\{[^}]*$)?)/g, (whole, dollar, braced, bare, open) => {
    if (dollar) return '$';
    if (bare) return value(bare);
    if (braced === undefined) {
      if (open !== undefined) throw fail(`"${text}": a \${ is never closed`);
      return whole;
    }
    const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?+])(.*))?$/s.exec(braced);
    if (!m) throw fail(`"\${${braced}}" is not a variable: write \${NAME}, \${NAME:-default} or \${NAME:?error}`);
    const [, name, colon, op, arg = ''] = m;
    const v = env[name!];
    const missing = v === undefined || (colon === ':' && v === '');
    if (op === '-') return missing ? arg : v!;
    if (op === '?') {
      if (missing) throw fail(`variable ${name} is required: ${arg || 'it is not set'}`);
      return v!;
    }
    if (op === '+') return missing ? '' : arg;
    return value(name!);
  });
  function value(name: string): string {
    if (env[name] === undefined) unset(name);
    return env[name] ?? '';
  }
}

/** KEY=VALUE lines of a .env file (quotes around a value dropped, a ` # comment` after an unquoted one too); none if there is no file. */
function dotEnv(path: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return {};
  }
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    // A comment line cannot match: a name starts with a letter or _.
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m) continue;
    const quoted = /^"(.*)"$|^'(.*)'$/.exec(m[2]!);
    out[m[1]!] = quoted ? (quoted[1] ?? quoted[2]!) : m[2]!.replace(/\s+#.*$/, '');
  }
  return out;
}

/** `extends`: a service starts from another (in this file or `file:`), its own keys merged over it. */
function resolveExtends(model: Record<string, any>, file: string, env: Record<string, string | undefined>, warnings: string[], sources: Source[]): Record<string, any> {
  const services = (model.services ?? {}) as Record<string, any>;
  const done = new Map<string, Record<string, any>>();
  const others = new Map<string, Record<string, any>>();
  const resolveOne = (name: string, from: Record<string, any>, where: string, chain: string[]): Record<string, any> => {
    const key = `${where}#${name}`;
    if (chain.includes(key)) throw new ComposeProblem(['services', chain[0]!.split('#')[1]!, 'extends'], `extends goes round in a circle (${[...chain, key].map((k) => k.split('#')[1]).join(' → ')})`);
    const svc = from[name];
    if (!svc || typeof svc !== 'object') {
      // A service that is no mapping is the schema's to name; one that is extended must exist.
      if (!chain.length) return svc;
      throw new ComposeProblem(['services', chain[0]!.split('#')[1]!, 'extends'], `there is no service "${name}" in ${where} to extend`);
    }
    if (where === file && done.has(name)) return done.get(name)!;
    const ext = svc.extends;
    let out = svc;
    if (ext) {
      const ref = typeof ext === 'string' ? { service: ext } : ext;
      let base: Record<string, any>;
      if (ref.file) {
        const other = resolve(dirname(where), ref.file);
        if (!others.has(other)) {
          const src = readSource(other, env, warnings);
          sources.push(src);
          others.set(other, ((src.doc.toJS() as Record<string, any> | null)?.services ?? {}) as Record<string, any>);
        }
        base = resolveOne(ref.service, others.get(other)!, other, [...chain, key]);
      } else base = resolveOne(ref.service, from, where, [...chain, key]);
      const { extends: _drop, ...own } = svc;
      out = deepMerge(normalizeService(base), normalizeService(own)) as Record<string, any>;
    }
    if (where === file) done.set(name, out);
    return out;
  };
  return { ...model, services: Object.fromEntries(Object.keys(services).map((n) => [n, resolveOne(n, services, file, [])])) };
}

/** Keys whose list form (KEY=VALUE) is turned into a mapping, so that files merge key by key. */
const DICT_KEYS = ['environment', 'labels', 'sysctls'];

function normalize(model: Record<string, any>): Record<string, any> {
  const services = Object.fromEntries(Object.entries(model.services ?? {}).map(([n, s]) => [n, normalizeService(s as Record<string, any>)]));
  return model.services ? { ...model, services } : model;
}

function normalizeService(s: Record<string, any>): Record<string, any> {
  if (!s || typeof s !== 'object') return s;
  const out = { ...s };
  for (const k of DICT_KEYS) if (Array.isArray(out[k])) out[k] = listToDict(out[k]);
  if (out.deploy && Array.isArray(out.deploy.labels)) out.deploy = { ...out.deploy, labels: listToDict(out.deploy.labels) };
  return out;
}

function listToDict(list: unknown[]): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const item of list) {
    const text = String(item);
    const eq = text.indexOf('=');
    if (eq < 0) out[text] = null;
    else out[text.slice(0, eq)] = text.slice(eq + 1);
  }
  return out;
}

/** Lists replaced whole, not appended (a command is one thing). */
const REPLACED = new Set(['command', 'entrypoint', 'test']);
/** Lists of things with an identity: a later entry replaces the one it names. */
const IDENTITY: Record<string, (x: any) => string> = {
  volumes: (x) => (typeof x === 'string' ? (x.split(':')[1] ?? x) : String(x?.target)),
  secrets: (x) => (typeof x === 'string' ? x : String(x?.source)),
  configs: (x) => (typeof x === 'string' ? x : String(x?.source)),
};

/** `over` on `base` (a later file on an earlier one, a service on the one it extends): mappings key by key; lists by IDENTITY (or whole entries), REPLACED ones whole; anything else replaced. */
function deepMerge(base: unknown, over: unknown, key = ''): unknown {
  if (Array.isArray(base) && Array.isArray(over) && !REPLACED.has(key)) {
    const id = IDENTITY[key] ?? ((x: unknown) => JSON.stringify(x));
    const kept = base.filter((b) => !over.some((o) => id(o) === id(b)));
    return [...kept, ...over];
  }
  if (isObject(base) && isObject(over)) {
    const out: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(over)) out[k] = deepMerge(base[k], v, k);
    return out;
  }
  return over;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return !!x && typeof x === 'object' && !Array.isArray(x);
}
