// The agent's hunt for the leader, against two managers on loopback that
// answer as the real dispatcher does: a follower refuses the session and
// names the leader in its trailers; the leader accepts. The agent must go to
// the named leader at once (not after its backoff), and ask its engine to
// describe the node once for the whole hunt, not once per try.
import test from 'ava';
import { Server, ServerCredentials, status as grpcStatus, type ServerDuplexStream } from '@grpc/grpc-js';
import { Session, type SessionHandlers } from '../../agent/session.js';
import { DispatcherService, type AgentMessage, type ManagerMessage, type NodeDescription } from '../../proto/generated/orch.js';
import { leaderTrailers } from '../../shared/leader-hint.js';
import { logger } from '../../shared/log.js';
import { serverCredentials, type TlsMaterial } from '../../shared/tls/credentials.js';
import { issueCert, newCa, newKey, type KeyPair, type Role } from '../../shared/tls/pki.js';

type Stream = ServerDuplexStream<AgentMessage, ManagerMessage>;

async function material(ca: KeyPair, nodeId: string, role: Role): Promise<TlsMaterial> {
  const { keyPem, publicKeyPem } = newKey();
  const certPem = await issueCert(ca, publicKeyPem, { nodeId, role, clusterId: 'c1' });
  return { dir: '', ca: Buffer.from(ca.certPem), key: Buffer.from(keyPem), cert: Buffer.from(certPem), identity: { nodeId, role, clusterId: 'c1' } };
}

async function serve(tls: TlsMaterial, session: (stream: Stream) => void): Promise<{ addr: string; server: Server }> {
  const server = new Server();
  server.addService(DispatcherService, { session, publishLogs: () => undefined });
  const creds: ServerCredentials = serverCredentials(tls).credentials;
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))));
  return { addr: `127.0.0.1:${port}`, server };
}

test('an agent refused by a follower goes to the leader it names at once, and describes its node once for the hunt', async (t) => {
  const ca = await newCa('c1');
  const agentTls = await material(ca, 'node-1', 'worker');
  const managerTls = await material(ca, 'manager-1', 'manager');

  const opened: number[] = [];
  const leader = await serve(managerTls, (stream) => {
    opened.push(performance.now());
    stream.on('data', (msg: AgentMessage) => {
      if (msg.register) stream.write({ accepted: { sessionId: `s${opened.length}`, heartbeatPeriodMs: 250 } });
      if (msg.heartbeat) stream.write({ heartbeat: {} });
    });
    stream.on('error', () => undefined);
  });
  const refused: number[] = [];
  const follower = await serve(managerTls, (stream) => {
    refused.push(performance.now());
    stream.on('error', () => undefined);
    stream.emit('error', Object.assign(new Error('this manager is not the leader'), { code: grpcStatus.UNAVAILABLE, details: 'this manager is not the leader', metadata: leaderTrailers(leader.addr) }));
  });
  t.teardown(() => {
    leader.server.forceShutdown();
    follower.server.forceShutdown();
  });

  // Five agents in turn, each first trying the follower: the gap from its refusal to the leader's seeing the
  // session is a new connection's handshake, never the backoff's least wait (25 ms) on top of it.
  const gaps: number[] = [];
  for (let i = 0; i < 5; i++) {
    let described = 0;
    let accepted!: () => void;
    const done = new Promise<void>((resolve) => (accepted = resolve));
    const handlers: SessionHandlers = {
      describe: async () => {
        described++;
        return { hostname: 'h1', os: 'linux', arch: 'x64', engineVersion: 'test', resources: undefined, addr: '127.0.0.1' } satisfies NodeDescription;
      },
      onAssignments: () => undefined,
      onNetworks: () => undefined,
      onFiles: () => undefined,
      onRemoveVolumes: () => undefined,
      statuses: () => {
        accepted(); // asked right after the session is accepted, to re-send every status
        return [];
      },
      onCertificate: () => agentTls,
      onLogs: () => undefined,
    };
    const session = new Session([follower.addr, leader.addr], agentTls, handlers, logger('session'));
    session.start();
    await done;
    session.stop();
    t.is(described, 1, 'the engine is asked once for the hunt');
    gaps.push(opened[opened.length - 1]! - refused[refused.length - 1]!);
  }
  t.is(refused.length, 5);
  t.true(Math.min(...gaps) < 25, `from the follower's refusal to the leader: ${gaps.map((g) => g.toFixed(1)).join(', ')} ms`);
});
