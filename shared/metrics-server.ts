// Serves a Prometheus registry at http://ADDR/metrics (`--metrics-addr` on
// `orch manager` and `orch agent`). Plain HTTP, no authentication, as
// Prometheus scrapes: bind it to loopback or a network only the monitoring
// reaches (docs/security.md).
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { InvalidArgumentError } from './errors.js';
import { listen } from './http.js';

/** Starts serving `registry`; `before` runs before each scrape (to read gauges off the current state). */
export async function serveMetrics(addr: string, registry: Registry, before: () => void = () => undefined): Promise<Server> {
  const m = /^(.*):(\d+)$/.exec(addr);
  if (!m || Number(m[2]) > 65535) throw new InvalidArgumentError(`--metrics-addr: "${addr}" is not HOST:PORT (e.g. 127.0.0.1:9464)`);
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404).end('only /metrics here\n');
      return;
    }
    before();
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: Error) => res.writeHead(500).end(`${err.message}\n`),
    );
  });
  await listen(server, addr, '--metrics-addr');
  return server;
}
