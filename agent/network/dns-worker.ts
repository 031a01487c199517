// One network's DNS resolver, in a worker thread: the thread enters the
// network's namespace (setns changes only the calling thread) and answers on
// the gateway address, port 53. Service names come from the main thread
// (a task on several networks also finds those of its other networks);
// other names are handed to it to forward to the host's resolvers (the
// network's namespace has no route out).
import { createSocket } from 'node:dgram';
import { parentPort, workerData } from 'node:worker_threads';
import { answer, failure, parseQuestion, RCODE_NXDOMAIN, RCODE_SERVFAIL, TYPE_A } from './dns-message.js';
import { enterNetns } from './netns.js';

const TTL = 5;
const { netnsPath, address } = workerData as { netnsPath: string; address: string };

/** name → addresses */
let records = new Map<string, string[]>();
/** A multi-network task's address → the names of its other networks (dns.ts sourceRecords). */
let bySource = new Map<string, Map<string, string[]>>();
const pending = new Map<number, { rinfo: { address: string; port: number } }>();
let nextForward = 1;

enterNetns(netnsPath);
const socket = createSocket('udp4');
socket.on('message', (msg, rinfo) => {
  const q = parseQuestion(msg);
  if (!q) return;
  const ips = records.get(q.name) ?? bySource.get(rinfo.address)?.get(q.name);
  if (ips) {
    socket.send(answer(msg, q, q.type === TYPE_A ? ips : [], TTL), rinfo.port, rinfo.address);
    return;
  }
  if (!q.name.includes('.') || q.name.startsWith('tasks.')) {
    socket.send(failure(msg, q, RCODE_NXDOMAIN), rinfo.port, rinfo.address); // a service name we do not have
    return;
  }
  const id = nextForward++;
  pending.set(id, { rinfo });
  parentPort!.postMessage({ forward: { id, query: msg } });
  setTimeout(() => {
    if (pending.delete(id)) socket.send(failure(msg, q, RCODE_SERVFAIL), rinfo.port, rinfo.address);
  }, 3000);
});
socket.bind(53, address, () => parentPort!.postMessage({ ready: true }));
socket.on('error', (err) => parentPort!.postMessage({ error: String(err) }));

parentPort!.on('message', (m: { records?: Array<[string, string[]]>; bySource?: Array<[string, Array<[string, string[]]>]>; reply?: { id: number; answer: Buffer }; stop?: boolean }) => {
  if (m.records) records = new Map(m.records);
  if (m.bySource) bySource = new Map(m.bySource.map(([ip, r]) => [ip, new Map(r)]));
  if (m.reply) {
    const p = pending.get(m.reply.id);
    if (p && pending.delete(m.reply.id)) socket.send(Buffer.from(m.reply.answer), p.rinfo.port, p.rinfo.address);
  }
  if (m.stop) socket.close(() => process.exit(0));
});
