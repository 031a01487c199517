// nftables for the agent: scripts in nft's own language, run in a namespace
// by a worker thread through libnftables (nft-worker.ts), not by an
// `nsenter … nft -f -` process each time. After a host is lost every agent
// rewrites tables in several namespaces within a second or two, while the
// engines start the replacements; two processes per run cost that CPU.
import { Worker } from 'node:worker_threads';
import type { NftReply, NftRequest } from './nft-worker.js';

/** What nft said about a script it refused (or a namespace that could not be entered). */
export class NftError extends Error {
  override name = 'NftError';
}

/** How long one script may take before the thread is taken for wedged and replaced. */
const RUN_TIMEOUT_MS = 10_000;

/** Runs nft scripts one at a time, on one worker thread made at the first call (and again after it dies). */
export class Nftables {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (output: string) => void; reject: (err: Error) => void }>();

  /** Runs `script` as `nft -f -` would, in the namespace at `netnsPath` ('' = the agent's own); resolves with what it printed. */
  run(netnsPath: string, script: string): Promise<string> {
    const id = this.nextId++;
    const worker = this.thread();
    const timer = setTimeout(() => void worker.terminate(), RUN_TIMEOUT_MS);
    return new Promise<string>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ id, netnsPath, script } satisfies NftRequest);
    }).finally(() => clearTimeout(timer));
  }

  /** Ends the thread (a later run makes a new one). */
  async close(): Promise<void> {
    const worker = this.worker;
    if (worker) await worker.terminate();
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL('./nft-worker.js', import.meta.url));
    worker.unref(); // it must not keep the agent alive
    worker.on('message', ({ id, output, error }: NftReply) => {
      const w = this.waiting.get(id);
      this.waiting.delete(id);
      if (error === undefined) w?.resolve(output ?? '');
      else w?.reject(new NftError(error));
    });
    const gone = (why: string) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      for (const w of this.waiting.values()) w.reject(new NftError(`the nftables thread ended: ${why}`));
      this.waiting.clear();
    };
    worker.on('error', (err) => gone(err.message));
    worker.on('exit', (code) => gone(`exit code ${code}`));
    this.worker = worker;
    return worker;
  }
}
