// The thread that talks to nftables through libnftables (the library the
// `nft` command is built on), loaded with koffi. One script at a time: the
// thread enters the script's namespace (setns changes only the calling
// thread), runs it as `nft -f -` would, and switches back. Its own thread,
// because the kernel may take tens of milliseconds to commit a table, which
// the agent's event loop must not wait out.
import koffi from 'koffi';
import { parentPort } from 'node:worker_threads';
import { inNetns } from './netns.js';

const lib = koffi.load('libnftables.so.1');
const ctxNew = lib.func('void *nft_ctx_new(uint32_t flags)');
const ctxFree = lib.func('void nft_ctx_free(void *ctx)');
const bufferOutput = lib.func('int nft_ctx_buffer_output(void *ctx)');
const bufferError = lib.func('int nft_ctx_buffer_error(void *ctx)');
const outputOf = lib.func('const char *nft_ctx_get_output_buffer(void *ctx)');
const errorOf = lib.func('const char *nft_ctx_get_error_buffer(void *ctx)');
const runScript = lib.func('int nft_run_cmd_from_buffer(void *ctx, const char *buf)');

/** A request from nftables.ts: run `script` in the namespace at `netnsPath` ('' = the agent's own). */
export interface NftRequest {
  id: number;
  netnsPath: string;
  script: string;
}

/** The answer: what nft printed, or why it failed. */
export interface NftReply {
  id: number;
  output?: string;
  error?: string;
}

/** Runs one script with a context made in the namespace (its netlink socket belongs there). */
function run(script: string): { output?: string; error?: string } {
  const ctx = ctxNew(0);
  try {
    bufferOutput(ctx);
    bufferError(ctx);
    if (runScript(ctx, script) === 0) return { output: (outputOf(ctx) as string | null) ?? '' };
    return { error: ((errorOf(ctx) as string | null) ?? '').trim() || 'nft failed' };
  } finally {
    ctxFree(ctx);
  }
}

parentPort!.on('message', ({ id, netnsPath, script }: NftRequest) => {
  let reply: NftReply;
  try {
    reply = { id, ...(netnsPath ? inNetns(netnsPath, () => run(script)) : run(script)) };
  } catch (err) {
    reply = { id, error: err instanceof Error ? err.message : String(err) };
  }
  parentPort!.postMessage(reply);
});
