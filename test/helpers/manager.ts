// A real manager on a throwaway etcd, torn down with the test.
import type { ExecutionContext } from 'ava';
import { Manager } from '../../manager/index.js';
import { tempEtcd, type TempEtcd } from '../../lab/etcd.js';
import { freePort } from '../../lab/ports.js';

export async function managerOnTempEtcd(t: ExecutionContext): Promise<{ m: Manager; etcd: TempEtcd }> {
  const etcd = await tempEtcd();
  const m = new Manager({ etcd: etcd.endpoint, listen: `127.0.0.1:${await freePort()}` });
  t.teardown(async () => {
    await m.stop();
    await etcd.destroy();
  });
  await m.start();
  return { m, etcd };
}
