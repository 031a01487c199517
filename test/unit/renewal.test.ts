// When certificates are renewed, and what etcd's certificates say: pure
// functions over certificates this test issues itself.
import { X509Certificate } from 'node:crypto';
import test from 'ava';
import { InvalidArgumentError } from '../../shared/errors.js';
import { insecureEtcd } from '../../shared/etcd-endpoints.js';
import { certIdentity, issueCert, issueEtcdCert, newCa, newKey, validity } from '../../shared/tls/pki.js';
import { expired, renewalDelay, RENEW_FROM, RENEW_TO } from '../../shared/tls/renewal.js';
import { parseMember } from '../../manager/ca/etcd-certs.js';

test('a certificate is renewed between 50% and 80% of its life, never after it ends', async (t) => {
  const ca = await newCa('c1');
  const cert = await issueCert(ca, newKey().publicKeyPem, { nodeId: 'n1', role: 'worker', clusterId: 'c1' }, { ttlMs: 60_000 });
  const { notBefore, notAfter } = validity(cert);
  const life = notAfter.getTime() - notBefore.getTime();
  t.true(notAfter.getTime() - Date.now() <= 60_000 && notAfter.getTime() - Date.now() > 55_000, 'one minute from now');
  t.true(life <= 66_000, 'backdated by at most a tenth of its life');
  const from = notBefore.getTime();
  t.is(renewalDelay(cert, from, 0), life * RENEW_FROM);
  t.true(Math.abs(renewalDelay(cert, from, 0.999999) - life * RENEW_TO) < 1, 'at most 80% in');
  t.is(renewalDelay(cert, from + 1000, 0), life * RENEW_FROM - 1000, 'reckoned from now');
  t.is(renewalDelay(cert, notAfter.getTime() + 5000, 0.5), 0, 'overdue: now');
  t.false(expired(cert, notAfter.getTime() - 1));
  t.true(expired(cert, notAfter.getTime()));
});

test("etcd's certificates come from a CA of etcd's own, name the member's addresses and no orch node", async (t) => {
  const etcdCa = await newCa('orch', 'orch etcd CA');
  const nodesCa = await newCa('c1');
  const server = new X509Certificate(await issueEtcdCert(etcdCa, newKey().publicKeyPem, 'm1', ['198.18.0.11', '127.0.0.1', '127.0.0.1']));
  t.true(server.verify(new X509Certificate(etcdCa.certPem).publicKey));
  t.false(server.verify(new X509Certificate(nodesCa.certPem).publicKey));
  t.is(server.checkIP('198.18.0.11'), '198.18.0.11');
  t.is(server.checkIP('127.0.0.1'), '127.0.0.1');
  t.is(server.checkIP('198.18.0.12'), undefined);
  t.throws(() => certIdentity(server.toString()), { message: /does not name an orch node/ });
  t.true(validity(server.toString()).notAfter.getTime() - Date.now() > 364 * 86_400_000);
});

test('etcd members are NAME=IP[,IP]; anything else is refused saying what to write', (t) => {
  t.deepEqual(parseMember('m1=10.0.0.1'), { name: 'm1', ips: ['10.0.0.1'] });
  t.deepEqual(parseMember('h2=198.18.0.12,fd00::2'), { name: 'h2', ips: ['198.18.0.12', 'fd00::2'] });
  t.throws(() => parseMember('10.0.0.1'), { instanceOf: InvalidArgumentError, message: /write it NAME=IP/ });
  t.throws(() => parseMember('m1=etcd.example'), { instanceOf: InvalidArgumentError, message: /"etcd\.example" is not an IP address/ });
});

test('an etcd is open when it is plain HTTP beyond loopback', (t) => {
  t.deepEqual(insecureEtcd('http://127.0.0.1:2379'), []);
  t.deepEqual(insecureEtcd('http://localhost:2379,https://10.0.0.1:2379'), []);
  t.deepEqual(insecureEtcd('http://10.0.0.1:2379, http://127.0.0.1:2379,http://etcd2:2379/'), ['http://10.0.0.1:2379', 'http://etcd2:2379/']);
});
