// The agent's hunt for the leader, against two managers on loopback that
// answer as the real dispatcher does: a follower refuses the session and
// names the leader in its trailers; the leader accepts. The agent must go to
// the named leader at once (not after its backoff), and ask its engine to
// describe the node once for the whole hunt, not once per try; a node that
// described itself before does not wait for that answer to register.
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

test("an agent whose session ends registers with the next leader at once, with its node's last description; if the engine's fresh one differs, it registers anew with it", async (t) => {
  const ca = await newCa('c1');
  const agentTls = await material(ca, 'node-1', 'worker');
  const managerTls = await material(ca, 'manager-1', 'manager');
  const registers: Array<{ at: number; manager: string; engineVersion: string }> = [];
  const accept = (name: string, stream: Stream, msg: AgentMessage) => {
    registers.push({ at: performance.now(), manager: name, engineVersion: msg.register!.description?.engineVersion ?? '' });
    stream.write({ accepted: { sessionId: `s${registers.length}`, heartbeatPeriodMs: 250 } });
  };
  const next = await serve(managerTls, (stream) => {
    stream.on('data', (msg: AgentMessage) => msg.register && accept('b', stream, msg));
    stream.on('error', () => undefined);
  });
  // The first leader is deposed 300 ms after the agent's session: it ends it, then names b to whoever comes.
  let endedAt = 0;
  const first = await serve(managerTls, (stream) => {
    stream.on('error', () => undefined);
    if (endedAt) return void stream.emit('error', Object.assign(new Error('this manager is not the leader'), { code: grpcStatus.UNAVAILABLE, details: 'this manager is not the leader', metadata: leaderTrailers(next.addr) }));
    stream.on('data', (msg: AgentMessage) => {
      if (!msg.register) return;
      accept('a', stream, msg);
      setTimeout(() => {
        endedAt = performance.now();
        stream.emit('error', Object.assign(new Error('this manager is no longer the leader'), { code: grpcStatus.UNAVAILABLE, details: 'this manager is no longer the leader' }));
      }, 300);
    });
  });
  t.teardown(() => {
    first.server.forceShutdown();
    next.server.forceShutdown();
  });
  // The engine answers at once the first time; later, 300 ms late (a busy engine) and upgraded.
  let asked = 0;
  const handlers: SessionHandlers = {
    describe: async () => {
      if (asked++ > 0) await new Promise((r) => setTimeout(r, 300));
      return { hostname: 'h1', os: 'linux', arch: 'x64', engineVersion: asked > 1 ? 'v2' : 'v1', resources: undefined, addr: '127.0.0.1' } satisfies NodeDescription;
    },
    onAssignments: () => undefined,
    onNetworks: () => undefined,
    onFiles: () => undefined,
    onRemoveVolumes: () => undefined,
    statuses: () => [],
    onCertificate: () => agentTls,
    onLogs: () => undefined,
  };
  const session = new Session([first.addr, next.addr], agentTls, handlers, logger('session'));
  t.teardown(() => session.stop());
  session.start();
  for (let i = 0; i < 100 && registers.filter((r) => r.manager === 'b').length < 2; i++) await new Promise((r) => setTimeout(r, 50));
  const atNext = registers.filter((r) => r.manager === 'b');
  t.is(atNext[0]?.engineVersion, 'v1', 'the first registration with the new leader carries the last description');
  t.true(atNext[0]!.at - endedAt < 200, `registered ${(atNext[0]!.at - endedAt).toFixed(0)} ms after the session ended, without waiting for the engine`);
  t.is(atNext[1]?.engineVersion, 'v2', 'then anew, with what the engine says now');
});
