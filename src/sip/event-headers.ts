import { parseParams, unquote } from './header-values.js';
import { SipSyntaxError } from './syntax-error.js';

/** RFC 6665 §8.2.1 Event: the package name (lower-case) and the optional `id` parameter. */
export interface EventHeader {
  package: string;
  id?: string;
}

/** RFC 6665 §8.2.3 Subscription-State with the parameters §4.1.3 defines. */
export interface SubscriptionState {
  state: 'active' | 'pending' | 'terminated' | string;
  reason?: string;
  expires?: number;
  retryAfter?: number;
}

const TOKEN = /^[A-Za-z0-9.!%*_+`'~-]+$/;

function split(value: string): [string, Map<string, string | null>] {
  const semi = value.indexOf(';');
  const head = (semi < 0 ? value : value.slice(0, semi)).trim();
  const params = semi < 0 ? new Map<string, string | null>() : parseParams(value.slice(semi));
  return [head, params];
}

function nonNegative(v: string | null | undefined, what: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  const raw = unquote(v);
  if (!/^\d{1,10}$/.test(raw)) throw new SipSyntaxError(`Bad ${what}`);
  return Number(raw);
}

export function parseEvent(value: string): EventHeader {
  const [pkg, params] = split(value);
  if (!TOKEN.test(pkg)) throw new SipSyntaxError('Bad Event');
  const out: EventHeader = { package: pkg.toLowerCase() };
  const id = params.get('id');
  if (id !== undefined && id !== null) out.id = unquote(id);
  return out;
}

export function parseSubscriptionState(value: string): SubscriptionState {
  const [state, params] = split(value);
  if (!TOKEN.test(state)) throw new SipSyntaxError('Bad Subscription-State');
  const out: SubscriptionState = { state: state.toLowerCase() };
  const reason = params.get('reason');
  if (reason !== undefined && reason !== null) out.reason = unquote(reason).toLowerCase();
  const expires = nonNegative(params.get('expires'), 'Subscription-State expires');
  if (expires !== undefined) out.expires = expires;
  const retryAfter = nonNegative(params.get('retry-after'), 'Subscription-State retry-after');
  if (retryAfter !== undefined) out.retryAfter = retryAfter;
  return out;
}

export function formatSubscriptionState(s: SubscriptionState): string {
  let out = s.state;
  if (s.reason) out += `;reason=${s.reason}`;
  if (s.expires !== undefined) out += `;expires=${s.expires}`;
  if (s.retryAfter !== undefined) out += `;retry-after=${s.retryAfter}`;
  return out;
}
