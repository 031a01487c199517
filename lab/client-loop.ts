// A bounded HTTP client loop for tests, benchmarks and the chaos harness:
// GETs round robin over a changing list of hosts until stopped or `max`
// requests, recording each outcome, what answered and how long it took (so a
// refusal, which is quick, is told apart from a hang, which runs into the
// deadline).
import { httpGet } from './run.js';

/** One request's outcome. */
export interface Sample {
  at: number;
  /** The host asked. */
  host: string;
  ok: boolean;
  /** The page (the test image answers with its container's hostname). */
  who: string;
  /** How long it took, ms. */
  ms: number;
  err?: string;
}

export interface ClientLoop {
  samples: Sample[];
  stop(): Promise<void>;
}

/**
 * `perSecond`: at most that many requests a second (a request that takes
 * longer than its share delays the next; a late loop never catches up), so
 * that the client measures the hosts without taking the CPU they run on.
 */
export function clientLoop(hosts: () => string[], port: number, o: { max?: number; timeoutMs?: number; perSecond?: number } = {}): ClientLoop {
  const samples: Sample[] = [];
  let running = true;
  const done = (async () => {
    for (let i = 0; running && i < (o.max ?? 20_000); i++) {
      const list = hosts();
      if (!list.length) {
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      const host = list[i % list.length]!;
      const at = Date.now();
      try {
        const who = await httpGet(host, port, o.timeoutMs ?? 1000);
        samples.push({ at, host, ok: true, who, ms: Date.now() - at });
      } catch (err) {
        samples.push({ at, host, ok: false, who: '', ms: Date.now() - at, err: String(err) });
        await new Promise((r) => setTimeout(r, 20));
      }
      const rest = o.perSecond ? 1000 / o.perSecond - (Date.now() - at) : 0;
      if (rest > 0) await new Promise((r) => setTimeout(r, rest));
    }
  })();
  return {
    samples,
    stop: async () => {
      running = false;
      await done;
    },
  };
}
