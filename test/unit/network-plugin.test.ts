// The agent's Docker network plugin as Docker's plugin client meets it: one
// kept-alive connection, reused after any pause (Go's client ignores the
// server's Keep-Alive hint). That client re-sends a call whose connection
// broke with its body already spent (an empty request), so the plugin must
// never be the side that closes an idle connection.
import test from 'ava';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { NetworkPlugin, PLUGIN_DIR } from '../../agent/network/plugin.js';
import type { Overlay } from '../../agent/network/overlay.js';
import { logger } from '../../shared/log.js';

/** Sends one plugin call on `conn` and resolves with the answer's JSON, or rejects if the connection ends first. */
function call(conn: Socket, path: string, body: unknown): Promise<unknown> {
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    let raw = '';
    const onData = (d: Buffer) => {
      raw += d.toString();
      const m = /\r\n\r\n([0-9a-f]+)\r\n([\s\S]*?)\r\n0\r\n\r\n$/.exec(raw);
      if (!m) return;
      conn.off('data', onData).off('close', onClose);
      resolve(JSON.parse(m[2]!));
    };
    const onClose = () => reject(new Error(`the plugin closed the connection before answering ${path}`));
    if (conn.destroyed || conn.readyState === 'closed' || conn.readyState === 'writeOnly') return onClose();
    conn.on('data', onData).once('close', onClose);
    conn.write(`POST ${path} HTTP/1.1\r\nHost: plugin\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
  });
}

test('an idle kept-alive connection stays open past the 5 s after which Node closes one by default, and the next call on it is answered', async (t) => {
  t.timeout(20_000);
  const plugin = new NetworkPlugin(`test${process.pid}`, {} as Overlay, logger('netplugin'));
  await plugin.start();
  const conn = connect(join(PLUGIN_DIR, `${plugin.driver}.sock`));
  try {
    t.deepEqual(await call(conn, '/Plugin.Activate', {}), { Implements: ['NetworkDriver'] });
    await new Promise((r) => setTimeout(r, 7000));
    t.deepEqual(await call(conn, '/NetworkDriver.CreateEndpoint', { NetworkID: 'n', EndpointID: 'e', Interface: { Address: '10.1.2.3/24' } }), {
      Interface: { MacAddress: '02:42:0a:01:02:03' },
    });
  } finally {
    conn.destroy();
    await plugin.stop();
  }
});
