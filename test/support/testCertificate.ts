// A CA and a server certificate signed by it for the test's addresses, made with openssl for one
// test process only (a 0700 temp dir, 2 days). A CA rather than one self-signed certificate, as
// Python's ssl (VERIFY_X509_STRICT on 3.13) and Node both accept it as a trust anchor.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from './tempDir';

export interface TestCertificate {
  key: string;
  cert: string;
  keyFile: string;
  certFile: string;
  /** The CA to trust (tlsOptions.ca), and a file holding it (NODE_EXTRA_CA_CERTS, SSL_CERT_FILE). */
  ca: string;
  caFile: string;
}

export function testCertificate(addresses: string[] = ['127.0.0.1'], name = 'test'): TestCertificate {
  const dir = tempDir(`${name}-tls`);
  const f = (n: string) => path.join(dir, n);
  const run = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run(['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', `/CN=Meadowrun ${name} CA`]);
  run(['req', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', `/CN=${addresses[0]}`]);
  fs.writeFileSync(f('ext.cnf'), `subjectAltName=${addresses.map((a) => `IP:${a}`).join(',')}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nauthorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n`);
  run(['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.pem'), '-days', '2', '-extfile', f('ext.cnf')]);
  const read = (n: string) => fs.readFileSync(f(n), 'utf8');
  return { key: read('server.key'), cert: read('server.pem'), keyFile: f('server.key'), certFile: f('server.pem'), ca: read('ca.pem'), caFile: f('ca.pem') };
}
