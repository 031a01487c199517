// The dashboard every manager serves with --ui-addr: a small static page
// (static/, no CDN) and what it reads: the cluster as the mirror holds it
// (/api/state), the events as they happen (/api/events, Server-Sent Events
// from the journal) and a task's last lines (/api/logs, asked of this
// manager's own control API, so a follower hands it to the leader).
// On loopback it is open, as the manager's host is trusted; anywhere else
// it asks for the cluster's dashboard token (`orch dashboard` prints it).
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { extname, resolve } from 'node:path';
import { EventEmitter } from 'node:events';
import { ClusterEvent, EventsRequest, Node, Service, Task, TaskState, type ControlClient, type LogsMessage } from '../../proto/generated/orch.js';
import { InvalidArgumentError } from '../../shared/errors.js';
import { listen } from '../../shared/http.js';
import type { Logger } from '../../shared/log.js';
import { isTerminal } from '../../shared/states.js';
import type { EventJournal } from '../events/journal.js';
import type { Cache } from '../store/index.js';
import { serviceSummaries } from '../cluster.js';

const STATIC = resolve(import.meta.dirname, '../../../manager/dashboard/static');
const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };
/** Ended tasks shown per service (the newest), beside the live ones. */
const ENDED_SHOWN = 5;
const LOG_LINES = 200;

/** The dashboard token of a cluster: derived from its key, the same on every manager. */
export function dashboardToken(clusterKey: Buffer): string {
  return createHmac('sha256', clusterKey).update('orch dashboard token v1').digest('hex').slice(0, 32);
}

/** Whether an address keeps the dashboard to the manager's own host. */
export function onLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

export interface DashboardDeps {
  cache: Cache;
  events: EventJournal;
  /** This manager's own control API (its logs go through the leader). */
  control: () => ControlClient;
  token: string;
  log: Logger;
}

/** Starts the dashboard at `addr` (host:port). */
export async function serveDashboard(addr: string, deps: DashboardDeps): Promise<Server> {
  const m = /^(.*):(\d+)$/.exec(addr);
  if (!m || Number(m[2]) > 65535) throw new InvalidArgumentError(`--ui-addr: "${addr}" is not HOST:PORT (e.g. 127.0.0.1:4280)`);
  const host = m[1] || '127.0.0.1';
  const open = onLoopback(host);
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://dashboard');
    if (!open && !authorized(req, url, deps.token, res)) return;
    if (url.pathname === '/api/state') return json(res, state(deps.cache));
    if (url.pathname === '/api/events') return streamEvents(req, res, deps.events);
    if (url.pathname === '/api/logs') return void sendLogs(url.searchParams.get('task') ?? '', res, deps.control());
    return sendStatic(url.pathname, res);
  });
  await listen(server, addr, '--ui-addr');
  deps.log.info({ addr, auth: open ? 'none (loopback)' : 'token' }, 'dashboard served');
  return server;
}

/** The token as ?token= (then kept in a cookie), the cookie, or a bearer header; else 401 with what to do. */
function authorized(req: IncomingMessage, url: URL, token: string, res: ServerResponse): boolean {
  const given = url.searchParams.get('token') ?? /(?:^|;\s*)orch_token=([0-9a-f]+)/.exec(req.headers.cookie ?? '')?.[1] ?? /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
  const ok = given.length === token.length && timingSafeEqual(Buffer.from(given), Buffer.from(token));
  if (!ok) {
    res.writeHead(401, { 'content-type': 'text/plain; charset=utf-8' }).end('this dashboard asks for its token: open the address `orch dashboard` prints\n');
    return false;
  }
  if (url.searchParams.has('token')) res.setHeader('set-cookie', `orch_token=${token}; HttpOnly; SameSite=Strict; Path=/`);
  return true;
}

/** What the page draws: nodes with their tasks, services with running/desired and rollout. */
function state(cache: Cache): unknown {
  const tasks = [...cache.tasks.values()].map((v) => v.value);
  const live = tasks.filter((t) => !isTerminal(t.status?.state ?? TaskState.NEW) || t.desiredState === TaskState.RUNNING);
  const ended = tasks
    .filter((t) => !live.includes(t))
    .sort((a, b) => (b.status?.timestamp?.getTime() ?? 0) - (a.status?.timestamp?.getTime() ?? 0));
  const shown = [...live];
  const perService = new Map<string, number>();
  for (const t of ended) {
    const n = perService.get(t.serviceId) ?? 0;
    if (n < ENDED_SHOWN) shown.push(t);
    perService.set(t.serviceId, n + 1);
  }
  const services = serviceSummaries(cache).map(({ service, running, desired }) => ({ ...(Service.toJSON(service!) as object), running, desired }));
  return { nodes: [...cache.nodes.values()].map((v) => Node.toJSON(v.value)), services, tasks: shown.map((t) => Task.toJSON(t)) };
}

function json(res: ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
}

/** The journal's events as Server-Sent Events: the last hundred kept, then each as it comes. */
function streamEvents(req: IncomingMessage, res: ServerResponse, events: EventJournal): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
  const call = Object.assign(new EventEmitter(), {
    request: EventsRequest.fromPartial({ since: new Date(Date.now() - 3_600_000) }),
    write: (e: ClusterEvent) => res.write(`data: ${JSON.stringify(ClusterEvent.toJSON(e))}\n\n`),
  });
  req.on('close', () => call.emit('cancelled'));
  void events.serve(call as never).catch(() => res.end());
}

/** A task's last lines, as text (its prefix left out). */
async function sendLogs(taskId: string, res: ServerResponse, control: ControlClient): Promise<void> {
  if (!/^[0-9a-z]+$/.test(taskId)) return void res.writeHead(400, { 'content-type': 'text/plain' }).end('give ?task=ID\n');
  const lines: string[] = [];
  const stream = control.logs({ ref: taskId, follow: false, tail: BigInt(LOG_LINES), since: undefined });
  try {
    for await (const m of stream as AsyncIterable<LogsMessage>) {
      if (m.notice) lines.push(`[${m.notice}]`);
      for (const l of m.lines) lines.push(Buffer.from(l.data).toString());
    }
  } catch (err) {
    lines.push(`[logs unavailable: ${(err as { details?: string }).details ?? String(err)}]`);
  }
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }).end(lines.join('\n') + '\n');
}

function sendStatic(path: string, res: ServerResponse): void {
  const name = path === '/' ? 'index.html' : path.slice(1);
  if (!/^[a-z-]+\.(html|js|css)$/.test(name)) return void res.writeHead(404).end('not found\n');
  try {
    res.writeHead(200, { 'content-type': TYPES[extname(name)]!, 'cache-control': 'no-store' }).end(readFileSync(resolve(STATIC, name)));
  } catch {
    res.writeHead(404).end('not found\n');
  }
}
