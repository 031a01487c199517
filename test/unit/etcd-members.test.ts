// Which etcd members a manager counts as on its own host (the mirror's watch goes to one of those first).
import test from 'ava';
import { onThisHost } from '../../manager/store/etcd.js';

test('members on this host: by any of its addresses, IPv6 in brackets, or localhost; others and unreadable endpoints are not', (t) => {
  const endpoints = ['https://10.0.0.1:2379', 'https://10.0.0.2:2379', 'https://[::1]:2379', 'http://localhost:2379', 'not a url'];
  t.deepEqual(onThisHost(endpoints, new Set(['10.0.0.2', '::1', 'localhost'])), ['https://10.0.0.2:2379', 'https://[::1]:2379', 'http://localhost:2379']);
  t.deepEqual(onThisHost(endpoints, new Set(['10.0.0.9'])), []);
});
