// How etcd's members are: each one asked on its own (sizes, raft leadership,
// applied index), and the alarms the cluster has raised. Diagnosis of
// failures, the leader's upkeep and `orch cluster status` all read this.
import { AlarmAction, AlarmType, type Etcd3 } from 'etcd3';
import type { StoreMember } from '../../proto/generated/orch.js';
import { connectMember, type EtcdTls } from './etcd.js';

/** How long asking one member may take. */
const MEMBER_TIMEOUT_MS = 1000;

/** One member's status; a member that does not answer in time is `answering: false` with the reason. */
export async function memberStatus(endpoint: string, tls: EtcdTls | undefined, timeoutMs = MEMBER_TIMEOUT_MS): Promise<StoreMember> {
  const client = connectMember(endpoint, tls, timeoutMs);
  try {
    const s = await client.maintenance.status();
    const id = BigInt(s.header.member_id).toString(16);
    return {
      endpoint,
      answering: true,
      id,
      leader: s.leader !== '0' && BigInt(s.leader) === BigInt(s.header.member_id),
      dbSize: BigInt(s.dbSize),
      dbSizeInUse: BigInt(s.dbSizeInUse),
      raftAppliedIndex: BigInt(s.raftAppliedIndex),
      hasLeader: !!s.leader && s.leader !== '0',
      error: '',
    };
  } catch (err) {
    return { endpoint, answering: false, hasLeader: false, id: '', leader: false, dbSize: 0n, dbSizeInUse: 0n, raftAppliedIndex: 0n, error: (err instanceof Error ? err.message : String(err)).split('\n')[0]! };
  } finally {
    client.close();
  }
}

/** Every member of a comma-separated endpoint list, asked at once. */
export function memberStatuses(endpoints: string, tls: EtcdTls | undefined): Promise<StoreMember[]> {
  return Promise.all(endpoints.split(',').filter(Boolean).map((e) => memberStatus(e.trim(), tls)));
}

/** The raised alarms, as "NOSPACE on member <hex id>". */
export async function storeAlarms(etcd: Etcd3): Promise<string[]> {
  const res = await etcd.maintenance.alarm({ action: AlarmAction.Get, memberID: 0, alarm: AlarmType.None });
  return res.alarms.map((a) => `${String(a.alarm).toUpperCase()} on member ${BigInt(a.memberID).toString(16)}`);
}

/** Disarms every raised NOSPACE alarm. */
export async function disarmNospace(etcd: Etcd3): Promise<number> {
  const res = await etcd.maintenance.alarm({ action: AlarmAction.Get, memberID: 0, alarm: AlarmType.None });
  const nospace = res.alarms.filter((a) => String(a.alarm).toUpperCase() === 'NOSPACE');
  for (const a of nospace) await etcd.maintenance.alarm({ action: AlarmAction.Deactivate, memberID: a.memberID, alarm: AlarmType.Nospace });
  return nospace.length;
}
