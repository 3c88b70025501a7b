/**
 * XEP-0030 service discovery payloads, with XEP-0128 extended information (data forms), built and read.
 * Only the `<query/>` children live here; the iq envelopes belong to whoever answers (builtins.ts).
 */
import xml from '@xmpp/xml';
import type { Element } from 'ltx';

export const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';
export const NS_DISCO_ITEMS = 'http://jabber.org/protocol/disco#items';
export const NS_DATA_FORMS = 'jabber:x:data';

/** XEP-0030 §3.1: category and type come from the XMPP Registrar's identity registry. */
export interface DiscoIdentity {
  category: string;
  type: string;
  name?: string;
  lang?: string;
}

/** A field of an XEP-0128 extended-information form. */
export interface DiscoFormField {
  var: string;
  values: string[];
}

/** An XEP-0128 form; `formType` becomes the hidden FORM_TYPE field. */
export interface DiscoForm {
  formType: string;
  fields: DiscoFormField[];
}

export interface DiscoInfo {
  identities: DiscoIdentity[];
  features: string[];
  forms?: DiscoForm[];
}

export interface DiscoItem {
  jid: string;
  node?: string;
  name?: string;
}

/** XEP-0030 §3.1 forbids duplicate features, and a duplicate would also corrupt a caps hash. */
export function uniqueFeatures(features: Iterable<string>): string[] {
  return [...new Set(features)];
}

function identityKey(i: DiscoIdentity): string {
  return JSON.stringify([i.category, i.type, i.lang ?? '', i.name ?? '']);
}

export function discoInfoQuery(info: DiscoInfo, node?: string): Element {
  const query = xml('query', { xmlns: NS_DISCO_INFO, node });
  const seen = new Set<string>();
  for (const identity of info.identities) {
    const key = identityKey(identity);
    if (seen.has(key)) continue;
    seen.add(key);
    query.append(xml('identity', { category: identity.category, type: identity.type, name: identity.name, 'xml:lang': identity.lang }));
  }
  for (const feature of uniqueFeatures(info.features)) query.append(xml('feature', { var: feature }));
  for (const form of info.forms ?? []) query.append(dataFormElement(form));
  return query;
}

function dataFormElement(form: DiscoForm): Element {
  const x = xml('x', { xmlns: NS_DATA_FORMS, type: 'result' });
  x.append(xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, form.formType)));
  for (const field of form.fields) {
    x.append(xml('field', { var: field.var }, ...field.values.map((v) => xml('value', {}, v))));
  }
  return x;
}

export function discoItemsQuery(items: DiscoItem[], node?: string): Element {
  return xml(
    'query',
    { xmlns: NS_DISCO_ITEMS, node },
    ...items.map((i) => xml('item', { jid: i.jid, node: i.node, name: i.name })),
  );
}

/**
 * Reads a disco#info `<query/>` back into the model. Forms without a hidden FORM_TYPE are skipped, as
 * XEP-0115 §5.4 tells a caps verifier to do; the rest of the entity's answer is still usable.
 */
export function parseDiscoInfo(query: Element): DiscoInfo {
  const identities: DiscoIdentity[] = query.getChildren('identity').map((el) => {
    const identity: DiscoIdentity = { category: str(el.attrs.category), type: str(el.attrs.type) };
    if (typeof el.attrs.name === 'string') identity.name = el.attrs.name;
    if (typeof el.attrs['xml:lang'] === 'string') identity.lang = el.attrs['xml:lang'];
    return identity;
  });
  const features = query.getChildren('feature').map((el) => str(el.attrs.var));
  const forms: DiscoForm[] = [];
  for (const x of query.getChildren('x', NS_DATA_FORMS)) {
    let formType: string | undefined;
    const fields: DiscoFormField[] = [];
    for (const f of x.getChildren('field')) {
      const values = f.getChildren('value').map((v) => v.getText());
      if (f.attrs.var === 'FORM_TYPE') {
        if (f.attrs.type === 'hidden') formType = values[0];
      } else {
        fields.push({ var: str(f.attrs.var), values });
      }
    }
    if (formType !== undefined) forms.push({ formType, fields });
  }
  return forms.length > 0 ? { identities, features, forms } : { identities, features };
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}
