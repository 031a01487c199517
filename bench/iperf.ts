// One iperf3 TCP measurement between two network namespaces (a lab host's,
// or a container's entered by pid): the benchmarks' throughput figures.
import { spawn } from 'node:child_process';
import { sh } from '../shared/sh.js';

/**
 * Runs an iperf3 server (one test) in the namespace that `serverNs` selects
 * (nsenter arguments) on `port`, and a client in `clientNs` to `addr:dialPort`;
 * resolves with the Mbit/s received.
 */
export async function iperf(serverNs: string[], clientNs: string[], addr: string, o: { port: number; dialPort?: number; seconds: number }): Promise<number> {
  const server = spawn('nsenter', [...serverNs, 'iperf3', '-s', '-1', '-p', String(o.port)], { stdio: 'ignore' });
  const exited = new Promise((r) => server.once('exit', r));
  try {
    await new Promise((r) => setTimeout(r, 300));
    const out = await sh('nsenter', [...clientNs, 'iperf3', '-c', addr, '-p', String(o.dialPort ?? o.port), '-t', String(o.seconds), '-J'], { timeoutMs: (o.seconds + 10) * 1000 });
    return (JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second / 1e6;
  } finally {
    server.kill('SIGKILL');
    await exited;
  }
}
