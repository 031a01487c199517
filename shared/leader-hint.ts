// Finding the leader without a round of every manager: a manager that is not
// the leader refuses an agent's session with the address of the leader it
// last saw answer in the call's trailers (while it knows none, it waits for
// the election's outcome, up to a second, and says '' if there is none). The
// trailer's presence also tells the agent that a live manager answered, so
// it may ask again soon rather than back off as from an unreachable one.
import { Metadata } from '@grpc/grpc-js';

const LEADER_HINT = 'orch-leader';

/** Trailers naming the leader's gRPC address ('' when unknown). */
export function leaderTrailers(addr: string | undefined): Metadata {
  const m = new Metadata();
  m.set(LEADER_HINT, addr ?? '');
  return m;
}

/** From a failed call: undefined if no manager answered, else the leader it named ('' when it knew none). */
export function hintedLeader(err: unknown): string | undefined {
  const metadata = (err as { metadata?: unknown }).metadata;
  if (!(metadata instanceof Metadata)) return undefined;
  const [value] = metadata.get(LEADER_HINT);
  return value === undefined ? undefined : String(value);
}
