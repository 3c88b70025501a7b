/**
 * The iq queries the component answers by itself, without involving the core: service discovery
 * (XEP-0030), ping (XEP-0199), software version (XEP-0092), and the RFC 6120 §8.4 refusal of every other
 * iq get/set nobody claimed.
 *
 * Two kinds of address reach the component: its own JID (the gateway) and user JIDs `user@domain[/res]`
 * standing for SIP users. Following what an XMPP server does for its hosted accounts, a bare user JID
 * answers as an `account/registered` identity and a full JID as a `client` (the SIP UA behind the GRUU).
 * Presence from a user carries caps (XEP-0115) computed over the full-JID answer, so an XMPP client that
 * verifies a caps hash against a disco#info reply on that full JID gets the same set.
 */
import xml from '@xmpp/xml';
import type { Element } from 'ltx';
import { VERSION } from '../version.js';
import { capsElement, capsVer, NS_CAPS, STOX_CAPS_NODE } from './caps.js';
import {
  discoInfoQuery,
  discoItemsQuery,
  NS_DISCO_INFO,
  NS_DISCO_ITEMS,
  uniqueFeatures,
  type DiscoIdentity,
  type DiscoInfo,
} from './service-discovery.js';

export const NS_PING = 'urn:xmpp:ping';
export const NS_VERSION = 'jabber:iq:version';
export const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';

export const DEFAULT_GATEWAY_NAME = 'Stox SIP gateway';

export interface BuiltinsConfig {
  /**
   * Feature vars Stox really supports for SIP users (XEP-0085 chat states, XEP-0184 receipts, …). Each
   * feature module adds its own, so disco and caps never claim more than is wired. Also advertised on the
   * gateway JID.
   */
  features: string[];
  /** `name` of the gateway identity; "Stox SIP gateway" when absent. */
  identityName?: string;
  /**
   * Payload namespaces of iq get/set that some other part of Stox answers. Those are handed on through
   * `onStanza` instead of being refused with `<service-unavailable/>`.
   */
  iqNamespaces?: string[];
}

export type BuiltinAnswer =
  /** Not a built-in query: hand it to the stanza handlers. */
  | { handled: false }
  /** Consumed; `reply` is what to send back, if anything can be sent (a query without `from` cannot be answered). */
  | { handled: true; reply?: Element };

export type StanzaErrorType = 'cancel' | 'modify' | 'auth' | 'wait' | 'continue';

/** An iq error reply (RFC 6120 §8.3) to `iq`, addressed back to its sender. */
export function iqErrorReply(iq: Element, type: StanzaErrorType, condition: string): Element {
  return xml(
    'iq',
    { type: 'error', id: attr(iq, 'id'), from: attr(iq, 'to'), to: attr(iq, 'from') },
    xml('error', { type }, xml(condition, { xmlns: NS_STANZAS })),
  );
}

export function iqResultReply(iq: Element, payload?: Element): Element {
  return xml('iq', { type: 'result', id: attr(iq, 'id'), from: attr(iq, 'to'), to: attr(iq, 'from') }, payload ?? []);
}

function attr(el: Element, name: string): string | undefined {
  const v: unknown = el.attrs[name];
  return typeof v === 'string' ? v : undefined;
}

/** `local@domain/resource` split structurally: the server routed it here, so it is already well formed. */
function addressKind(to: string | undefined): 'gateway' | 'bare-user' | 'full-user' {
  if (to === undefined) return 'gateway';
  const slash = to.indexOf('/');
  const bare = slash < 0 ? to : to.slice(0, slash);
  if (!bare.includes('@')) return 'gateway';
  return slash < 0 ? 'bare-user' : 'full-user';
}

export class Builtins {
  readonly gatewayInfo: DiscoInfo;
  readonly bareUserInfo: DiscoInfo;
  /** What a full user JID answers, and what the user caps hash covers. */
  readonly fullUserInfo: DiscoInfo;
  /** `node#ver` a caps-verifying client queries (XEP-0115 §6.2). */
  readonly capsNode: string;
  private readonly claimed: ReadonlySet<string>;

  constructor(config: BuiltinsConfig) {
    const gatewayIdentity: DiscoIdentity = { category: 'gateway', type: 'sip', name: config.identityName ?? DEFAULT_GATEWAY_NAME };
    this.gatewayInfo = {
      identities: [gatewayIdentity],
      features: uniqueFeatures([NS_DISCO_INFO, NS_DISCO_ITEMS, NS_PING, NS_VERSION, ...config.features]),
    };
    const userFeatures = uniqueFeatures([NS_DISCO_INFO, NS_DISCO_ITEMS, NS_PING, NS_CAPS, ...config.features]);
    this.bareUserInfo = { identities: [{ category: 'account', type: 'registered' }], features: userFeatures };
    this.fullUserInfo = { identities: [{ category: 'client', type: 'pc' }], features: userFeatures };
    this.capsNode = `${STOX_CAPS_NODE}#${capsVer(this.fullUserInfo)}`;
    this.claimed = new Set(config.iqNamespaces ?? []);
  }

  /** The `<c/>` for presence sent from user JIDs. A fresh element each time: ltx elements get re-parented when sent. */
  userCaps(): Element {
    return capsElement(this.fullUserInfo);
  }

  answer(stanza: Element): BuiltinAnswer {
    if (stanza.name !== 'iq') return { handled: false };
    const type = attr(stanza, 'type');
    // Results and errors answer something this side sent; whoever sent it wants them (RFC 6120 §8.2.3
    // also forbids answering them).
    if (type === 'result' || type === 'error') return { handled: false };

    const reply = (el: Element): BuiltinAnswer =>
      attr(stanza, 'from') === undefined || attr(stanza, 'to') === undefined ? { handled: true } : { handled: true, reply: el };

    if (type !== 'get' && type !== 'set') return reply(iqErrorReply(stanza, 'modify', 'bad-request'));
    const payloads = stanza.getChildElements();
    const payload = payloads[0];
    // RFC 6120 §8.2.3: a get or set carries exactly one payload.
    if (payloads.length !== 1 || payload === undefined) return reply(iqErrorReply(stanza, 'modify', 'bad-request'));
    const ns = attr(payload, 'xmlns');
    if (ns !== undefined && this.claimed.has(ns)) return { handled: false };

    const kind = addressKind(attr(stanza, 'to'));
    if (type === 'get') {
      if (payload.is('query', NS_DISCO_INFO)) return reply(this.discoInfo(stanza, payload, kind));
      if (payload.is('query', NS_DISCO_ITEMS)) return reply(iqResultReply(stanza, discoItemsQuery([], attr(payload, 'node'))));
      if (payload.is('ping', NS_PING)) return reply(iqResultReply(stanza));
      // Stox's version is the gateway's; a user JID's software is the SIP UA's, which Stox does not know.
      if (payload.is('query', NS_VERSION) && kind === 'gateway') {
        return reply(iqResultReply(stanza, xml('query', { xmlns: NS_VERSION }, xml('name', {}, 'Stox'), xml('version', {}, VERSION))));
      }
    }
    return reply(iqErrorReply(stanza, 'cancel', 'service-unavailable'));
  }

  private discoInfo(stanza: Element, query: Element, kind: ReturnType<typeof addressKind>): Element {
    const node = attr(query, 'node');
    if (node === undefined) {
      const info = kind === 'gateway' ? this.gatewayInfo : kind === 'bare-user' ? this.bareUserInfo : this.fullUserInfo;
      return iqResultReply(stanza, discoInfoQuery(info));
    }
    // XEP-0115 §6.2: the query names the caps node; the answer must echo it.
    if (node === this.capsNode) return iqResultReply(stanza, discoInfoQuery(this.fullUserInfo, node));
    return iqErrorReply(stanza, 'cancel', 'item-not-found');
  }
}
