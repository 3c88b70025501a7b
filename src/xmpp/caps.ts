/**
 * XEP-0115 entity capabilities: the verification string (§5.1) and the `<c/>` element for presence.
 */
import { createHash } from 'node:crypto';
import xml from '@xmpp/xml';
import type { Element } from 'ltx';
import type { DiscoIdentity, DiscoInfo } from './service-discovery.js';

export const NS_CAPS = 'http://jabber.org/protocol/caps';

/** XEP-0115 §4: a URI that names the software; `.invalid` because Stox has no project site to point at. */
export const STOX_CAPS_NODE = 'https://stox.invalid/caps';

/**
 * XEP-0115 §5.1 sorts with "i;octet" (RFC 4790): byte order of the UTF-8 encoding. JavaScript's `<` compares
 * UTF-16 code units, which orders astral characters differently from U+E000–U+FFFF, so compare bytes.
 */
function octetCompare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function compareIdentities(a: DiscoIdentity, b: DiscoIdentity): number {
  return (
    octetCompare(a.category, b.category) ||
    octetCompare(a.type, b.type) ||
    octetCompare(a.lang ?? '', b.lang ?? '') ||
    octetCompare(a.name ?? '', b.name ?? '')
  );
}

/** XEP-0115 §5.1 steps 1–8: the string that gets hashed. */
export function capsVerificationString(info: DiscoInfo): string {
  let s = '';
  for (const i of [...info.identities].sort(compareIdentities)) {
    s += `${i.category}/${i.type}/${i.lang ?? ''}/${i.name ?? ''}<`;
  }
  for (const f of [...info.features].sort(octetCompare)) s += `${f}<`;
  const forms = [...(info.forms ?? [])].sort((a, b) => octetCompare(a.formType, b.formType));
  for (const form of forms) {
    s += `${form.formType}<`;
    for (const field of [...form.fields].sort((a, b) => octetCompare(a.var, b.var))) {
      s += `${field.var}<`;
      for (const v of [...field.values].sort(octetCompare)) s += `${v}<`;
    }
  }
  return s;
}

/** XEP-0115 §5.1 step 9–10 with the mandatory-to-implement hash: base64 of the SHA-1 of the UTF-8 string. */
export function capsVer(info: DiscoInfo): string {
  return createHash('sha1').update(capsVerificationString(info), 'utf8').digest('base64');
}

/** The `<c/>` to put in presence (XEP-0115 §4), for an entity whose disco#info answer is `info`. */
export function capsElement(info: DiscoInfo, node: string = STOX_CAPS_NODE): Element {
  return xml('c', { xmlns: NS_CAPS, hash: 'sha-1', node, ver: capsVer(info) });
}
