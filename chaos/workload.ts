// The workload a chaos run keeps busy: a replicated service on an overlay
// network published on every host, a global service, a second service on the
// same network, and `caller`, whose containers ask `api` by name over the
// overlay (VIP and DNS) five times a second and print each outcome; a bounded
// client loop through the published port, recording every request's outcome
// and time; and the callers' outcomes, read from their engines' logs.
import { LABEL } from '../agent/exec/labels.js';
import type { LabCluster } from '../lab/lab-cluster.js';
import { BURST, ROLLED } from './faults.js';
import { clientLoop, type ClientLoop } from '../lab/client-loop.js';
import { within } from '../shared/timeout.js';

export const PUBLISHED_PORT = 8080;

/**
 * One request from inside the overlay to `api` by name, every 200 ms: "ok" or
 * "fail" on stdout. busybox wget has no working timeout here, so a watchdog
 * kills one that takes over 2 s.
 */
const CALLER_LOOP = [
  'trap "exit 0" TERM',
  'while true; do',
  '  wget -q -O /dev/null http://api/ & w=$!',
  '  (sleep 2; kill $w 2>/dev/null) & k=$!',
  '  if wait $w; then echo ok; else echo fail; fi',
  '  kill $k 2>/dev/null',
  '  sleep 0.2',
  'done',
].join('\n');

/** What the run created, as it must still be at the end (specs intact). */
export const SERVICES = [
  { name: BURST.service, args: ['--replicas', String(BURST.replicas), '--network', 'chaos', '-p', `${PUBLISHED_PORT}:80`, '--restart-delay', '200ms', '--stop-grace-period', '1s', 'orch-test/httpd'] },
  {
    name: ROLLED.service,
    // Start-first with a health check, its rollbacks too (Docker's rollbacks are stop-first unless told):
    // neither an update nor the rollback of one takes a replica away before its replacement answers.
    // Checked every second: each check is a `docker exec`, and three tasks checked every 500 ms kept 8 % of
    // the machine busy.
    args: ['--replicas', '3', '--network', 'chaos', '--restart-delay', '200ms', '--stop-grace-period', '1s', '--health-cmd', 'wget -qO- http://127.0.0.1/', '--health-interval', '1s', '--update-order', 'start-first', '--update-failure-action', 'rollback', '--update-monitor', '2s', '--rollback-order', 'start-first', '--rollback-failure-action', 'continue', ROLLED.images[0]!],
  },
  { name: 'agentd', args: ['--mode', 'global', '--restart-delay', '200ms', '--stop-grace-period', '1s', 'orch-test/sleep'] },
  { name: 'caller', args: ['--replicas', '2', '--network', 'chaos', '--restart-delay', '200ms', '--stop-grace-period', '1s', 'orch-test/sleep', 'sh', '-c', CALLER_LOOP] },
];

/** How long one engine call reading the callers' outcomes may take. */
const ENGINE_CALL_MS = 10_000;

/**
 * The outcomes the callers printed, read from every live engine (containers
 * that ended included, until their agent removes them: read them often).
 * Keeps the longest log seen per container.
 */
export class CallerLog {
  private readonly byContainer = new Map<string, Outcome[]>();

  async collect(lab: LabCluster): Promise<void> {
    for (const h of lab.state.hosts.filter((x) => x.status !== 'killed')) {
      const engine = lab.engine(h.name);
      // Bounded: an engine killed in the middle of an answer leaves dockerode waiting for ever.
      const list = await within(engine.listContainers({ all: true, filters: { label: [`${LABEL.cluster}=${lab.name}`, `${LABEL.serviceName}=caller`] } }).catch(() => []), ENGINE_CALL_MS, []);
      for (const c of list) {
        const raw = (await within(engine.getContainer(c.Id).logs({ stdout: true, timestamps: true, follow: false }).catch(() => undefined), ENGINE_CALL_MS, undefined)) as Buffer | undefined;
        if (!raw) continue;
        const outcomes = parseLines(demux(raw), h.name);
        if (outcomes.length > (this.byContainer.get(c.Id)?.length ?? 0)) this.byContainer.set(c.Id, outcomes);
      }
    }
  }

  get outcomes(): Outcome[] {
    return [...this.byContainer.values()].flat().sort((a, b) => a.at - b.at);
  }
}

/** The payload of Docker's multiplexed log stream (8-byte frame headers). */
function demux(buf: Buffer): string {
  const parts: Buffer[] = [];
  for (let i = 0; i + 8 <= buf.length; ) {
    const size = buf.readUInt32BE(i + 4);
    parts.push(buf.subarray(i + 8, i + 8 + size));
    i += 8 + size;
  }
  return Buffer.concat(parts).toString('utf8');
}

/** "2026-11-23T16:00:00.123456789Z ok" lines → outcomes. */
function parseLines(text: string, host: string): Outcome[] {
  const out: Outcome[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\S+) (ok|fail)$/.exec(line.trim());
    if (m) out.push({ at: Date.parse(m[1]!), host, ok: m[2] === 'ok' });
  }
  return out;
}

export async function startWorkload(lab: LabCluster): Promise<void> {
  await lab.ok('network', 'create', 'chaos');
  for (const s of SERVICES) await lab.ok('service', 'create', '--name', s.name, ...s.args);
}

export interface Outcome {
  at: number;
  host: string;
  ok: boolean;
}

/**
 * The published-port client's pace. Unpaced (as fast as the hosts answer) it
 * sent 1,650 requests a second and took more than one of the machine's two
 * cores from the lab it measures (23 % → 80 % busy, load average 8 in a
 * run), with 50,000 conntrack entries per host. At 400 a second the machine
 * was 70 % busy, at 200 59 %, with the workload alone 46 % (5 hosts); 200 a
 * second still ask every host every 25 ms, against a detection of 1 s.
 */
export const PUBLISHED_PER_SECOND = 200;

/** Requests to the published port, round robin over the hosts `targets()` names, until stopped (at most `max`). */
export function publishedLoop(targets: () => string[], max: number): ClientLoop {
  return clientLoop(targets, PUBLISHED_PORT, { max, timeoutMs: 1000, perSecond: PUBLISHED_PER_SECOND });
}
