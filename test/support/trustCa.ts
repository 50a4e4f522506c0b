// Trust a test CA in this process as NODE_EXTRA_CA_CERTS trusts one in a child process: added to
// Node's own roots for every TLS connection that names no CA itself. NODE_EXTRA_CA_CERTS is read
// once at startup, before a test has made its CA; the SDK clients the product makes take no CA.
import tls from 'node:tls';

const extra: string[] = [];

export function trustCaInThisProcess(ca: string): void {
  if (!extra.length) {
    const original = tls.createSecureContext;
    (tls as { createSecureContext: typeof tls.createSecureContext }).createSecureContext = (options) =>
      original(options?.ca === undefined ? { ...options, ca: [...tls.rootCertificates, ...extra] } : options);
  }
  extra.push(ca);
}
