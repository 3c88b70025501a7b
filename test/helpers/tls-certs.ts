import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';

/**
 * Throwaway PKI for tests, made with the openssl CLI in a directory the test owns (fs.mkdtempSync).
 * P-256 keys keep generation fast; every certificate is valid for one day.
 */

export interface PemPair {
  /** Paths, for configs that take files. */
  certPath: string;
  keyPath: string;
  /** Contents, for APIs that take PEM. */
  cert: string;
  key: string;
}

export type TestCa = PemPair & { cn: string };
export type TestCert = PemPair & { cn: string; sans: string[] };

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function fileName(cn: string): string {
  return cn.replace(/[^A-Za-z0-9.-]/g, '_');
}

export function makeCa(dir: string, cn = 'Stox Test CA'): TestCa {
  const base = join(dir, `ca-${fileName(cn)}-${randomBytes(3).toString('hex')}`);
  const certPath = `${base}.crt`;
  const keyPath = `${base}.key`;
  openssl([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-subj', `/CN=${cn}`, '-days', '1', '-keyout', keyPath, '-out', certPath,
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return { cn, certPath, keyPath, cert: readFileSync(certPath, 'utf8'), key: readFileSync(keyPath, 'utf8') };
}

/**
 * A leaf certificate signed by `ca`, usable as TLS server and client. `sans` entries are "DNS:name",
 * "IP:addr", or bare names/addresses (an IP literal becomes IP:, anything else DNS:).
 */
export function makeCert(dir: string, ca: TestCa, cn: string, sans: string[] = []): TestCert {
  const base = join(dir, `${fileName(cn)}-${randomBytes(3).toString('hex')}`);
  const certPath = `${base}.crt`;
  const keyPath = `${base}.key`;
  const csrPath = `${base}.csr`;
  const extPath = `${base}.ext`;
  const altNames = sans.map((s) => (/^(DNS|IP|URI|email):/.test(s) ? s : isIP(s) ? `IP:${s}` : `DNS:${s}`));
  openssl([
    'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-subj', `/CN=${cn}`, '-keyout', keyPath, '-out', csrPath,
  ]);
  writeFileSync(
    extPath,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth,clientAuth',
      ...(altNames.length ? [`subjectAltName=${altNames.join(',')}`] : []),
    ].join('\n') + '\n',
  );
  openssl([
    'x509', '-req', '-in', csrPath, '-CA', ca.certPath, '-CAkey', ca.keyPath,
    '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-days', '1', '-out', certPath, '-extfile', extPath,
  ]);
  return { cn, sans: altNames, certPath, keyPath, cert: readFileSync(certPath, 'utf8'), key: readFileSync(keyPath, 'utf8') };
}
