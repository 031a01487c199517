// Running the built `orch` CLI as a user would, and waiting for conditions:
// shared by the single-host cluster, the lab harness, tests and benchmarks.
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { closeSync, openSync } from 'node:fs';
import { request } from 'node:http';
import { resolve } from 'node:path';

/** The built CLI entry point. */
export const MAIN = resolve(import.meta.dirname, '../cli/main.js');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `orch ARGS` with the given environment additions; resolves with exit code and output. */
export function runOrch(env: NodeJS.ProcessEnv, args: string[]): Promise<RunResult> {
  return new Promise((done) => {
    const p = spawn(process.execPath, [MAIN, ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => done({ code: code ?? -1, stdout, stderr }));
  });
}

/** Starts `orch ARGS` that runs until stopped (`events`, `logs -f`), its stdout into `file`; the returned stop ends it (SIGINT) and resolves once it has. */
export function followOrch(env: NodeJS.ProcessEnv, args: string[], file: string): () => Promise<void> {
  const out = openSync(file, 'w');
  const p = spawn(process.execPath, [MAIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', out, 'ignore'] });
  const closed = new Promise<void>((r) => p.once('close', () => r()));
  closeSync(out);
  return async () => {
    p.kill('SIGINT');
    await closed;
  };
}

/** Polls `check` every `everyMs` until it holds; throws after `timeoutMs` naming `what`. */
export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
}

/**
 * One HTTP GET with a deadline; resolves with the page (the test images
 * answer with their container's hostname), rejects on any failure, a
 * response cut off midway included (it ends with 'close' and no 'end').
 */
export function httpGet(host: string, port: number, timeoutMs: number, path = '/'): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      let ended = false;
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        ended = true;
        if (res.statusCode === 200) resolve(body.trim());
        else reject(new Error(`HTTP ${res.statusCode}`));
      });
      res.on('error', reject);
      res.on('close', () => ended || reject(new Error('response cut off')));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** Sends one UDP datagram and resolves with the first answer (the test image echoes on :7); rejects after `timeoutMs`. */
export function udpAsk(host: string, port: number, payload: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createSocket('udp4');
    const timer = setTimeout(() => {
      sock.close();
      reject(new Error('timeout'));
    }, timeoutMs);
    sock.once('message', (m) => {
      clearTimeout(timer);
      sock.close();
      resolve(m.toString());
    });
    sock.once('error', (err) => {
      clearTimeout(timer);
      sock.close();
      reject(err);
    });
    sock.send(payload, port, host);
  });
}
