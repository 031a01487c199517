// Starting an HTTP server of orch's (metrics, dashboard) with a clear refusal.
import type { Server } from 'node:http';
import { InvalidArgumentError } from './errors.js';

/** Listens at host:port; a refusal (in use, not an address here) is said in one line naming `flag`. */
export function listen(server: Server, addr: string, flag: string): Promise<void> {
  const [, host, port] = /^(.*):(\d+)$/.exec(addr)!;
  return new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new InvalidArgumentError(`${flag} ${addr}: ${err.code === 'EADDRINUSE' ? 'the port is in use' : err.code === 'EADDRNOTAVAIL' ? 'not an address of this host' : err.message}; give another HOST:PORT`)),
    );
    server.listen(Number(port), host || '127.0.0.1', resolve);
  });
}
