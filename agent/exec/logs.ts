// A task's output, read from its container's engine logs when the leader
// asks (a LogsSubscription on the session) and sent back on one PublishLogs
// call, line by line with the engine's timestamp, stdout and stderr apart.
// The call's flow control paces the reading: while it cannot take more, the
// engine's streams are paused, so a slow reader costs no memory here. The
// call ends when every container's stream has (without `follow`: once the
// lines there are sent; with it: once the containers stop), or when the
// manager answers it (nobody reads any more).
import { Readable } from 'node:stream';
import type { ClientWritableStream } from '@grpc/grpc-js';
import type { LogLine, LogsPublish, LogsSubscription } from '../../proto/generated/orch.js';
import type { Logger } from '../../shared/log.js';
import type { Engine } from './engine.js';

/** Lines are sent in messages of about this many bytes at most. */
const BATCH_BYTES = 32 * 1024;

/** Sends the logs a subscription asks for on `call` (opened for it) until done or `answered` (the manager ended the call). */
export async function publishLogs(engine: Engine, sub: LogsSubscription, call: ClientWritableStream<LogsPublish>, answered: AbortSignal, log: Logger): Promise<void> {
  const containers = await engine.listManaged().catch(() => new Map<string, string>());
  const missing = sub.taskIds.filter((id) => !containers.has(id));
  call.write({ subscriptionId: sub.id, lines: [], missing });
  const since = sub.since?.getTime() ?? 0;
  const sources: Readable[] = [];
  let closed = false;
  const close = () => {
    closed = true;
    for (const s of sources) s.destroy();
  };
  answered.addEventListener('abort', close, { once: true });
  call.on('error', close);
  let batch: LogLine[] = [];
  let bytes = 0;
  const flush = () => {
    if (!batch.length || closed) return;
    const ok = call.write({ subscriptionId: '', lines: batch, missing: [] });
    batch = [];
    bytes = 0;
    if (!ok) {
      for (const s of sources) s.pause();
      call.once('drain', () => sources.forEach((s) => s.resume()));
    }
  };
  let flushing: NodeJS.Immediate | undefined;
  const add = (line: LogLine) => {
    if (line.time && line.time.getTime() < since) return;
    batch.push(line);
    bytes += line.data.length + 64;
    if (bytes >= BATCH_BYTES) flush();
    else flushing ??= setImmediate(() => ((flushing = undefined), flush()));
  };
  const reads = sub.taskIds
    .filter((id) => containers.has(id))
    .map(async (taskId) => {
      const id = containers.get(taskId)!;
      try {
        const container = engine.docker.getContainer(id);
        const tty = (await container.inspect()).Config.Tty;
        const opts = { stdout: true, stderr: true, timestamps: true, ...(sub.tail >= 0n ? { tail: Number(sub.tail) } : {}), since: Math.floor(since / 1000) };
        // Without follow the engine answers with the whole text at once.
        const out = sub.follow ? await container.logs({ ...opts, follow: true }) : await container.logs({ ...opts, follow: false });
        const source = Buffer.isBuffer(out) ? Readable.from([out]) : (out as unknown as Readable);
        if (closed) return source.destroy();
        sources.push(source);
        const lines = new LineReader(tty, (stderr, text) => add(parseLine(taskId, stderr, text)));
        await new Promise<void>((resolve) => {
          source.on('data', (chunk: Buffer) => lines.push(chunk));
          source.on('end', resolve);
          source.on('close', resolve);
          source.on('error', resolve);
        });
        lines.end();
      } catch (err) {
        log.debug({ task: taskId, err: String(err) }, 'reading a container log failed');
      }
    });
  await Promise.all(reads);
  clearImmediate(flushing);
  flush();
  if (!closed) call.end();
}

/** One engine line ("2026-12-02T19:00:00.123456789Z text") as a LogLine. */
function parseLine(taskId: string, stderr: boolean, text: Buffer): LogLine {
  const space = text.indexOf(0x20);
  const stamp = space > 0 ? new Date(text.subarray(0, space).toString()) : undefined;
  if (!stamp || Number.isNaN(stamp.getTime())) return { taskId, stderr, time: undefined, data: text };
  return { taskId, stderr, time: stamp, data: text.subarray(space + 1) };
}

/**
 * Splits an engine log stream into lines: without a TTY the engine frames
 * stdout and stderr (8 bytes: the stream, three zeros, the length), with one
 * it sends the terminal's bytes as they are.
 */
export class LineReader {
  private pending: Buffer = Buffer.alloc(0);
  private readonly partial: [Buffer, Buffer] = [Buffer.alloc(0), Buffer.alloc(0)];

  constructor(
    private readonly tty: boolean,
    private readonly onLine: (stderr: boolean, line: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    if (this.tty) return this.text(false, chunk);
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    while (this.pending.length >= 8) {
      const size = this.pending.readUInt32BE(4);
      if (this.pending.length < 8 + size) break;
      this.text(this.pending[0] === 2, this.pending.subarray(8, 8 + size));
      this.pending = this.pending.subarray(8 + size);
    }
  }

  /** The stream ended: a last line without its newline still counts. */
  end(): void {
    for (const stderr of [false, true]) {
      const rest = this.partial[stderr ? 1 : 0];
      if (rest.length) this.onLine(stderr, rest);
      this.partial[stderr ? 1 : 0] = Buffer.alloc(0);
    }
  }

  private text(stderr: boolean, bytes: Buffer): void {
    const i = stderr ? 1 : 0;
    let buf = this.partial[i].length ? Buffer.concat([this.partial[i], bytes]) : bytes;
    let nl: number;
    while ((nl = buf.indexOf(0x0a)) >= 0) {
      const line = buf.subarray(0, nl);
      this.onLine(stderr, line.length && line[line.length - 1] === 0x0d ? line.subarray(0, -1) : line);
      buf = buf.subarray(nl + 1);
    }
    this.partial[i] = Buffer.from(buf);
  }
}
