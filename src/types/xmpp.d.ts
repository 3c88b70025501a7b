/*
 * The xmpp.js 0.13 packages ship no TypeScript declarations. These cover only what Stox and its tests use,
 * checked against the 0.13 sources (@xmpp/connection, @xmpp/component-core, @xmpp/client-core). Elements
 * are ltx elements: @xmpp/xml builds them with ltx's CommonJS build, so use `xml.Element` from
 * '@xmpp/xml' for `instanceof`, never the class imported from 'ltx' at run time (its ESM build is a
 * different class).
 */

declare module '@xmpp/xml' {
  import type { EventEmitter } from 'node:events';
  import type { Element as LtxElement, Node } from 'ltx';

  function xml(name: string, attrs?: Record<string, string | number | undefined> | null, ...children: Array<Node | Node[]>): LtxElement;
  namespace xml {
    const Element: typeof LtxElement;
    type Element = LtxElement;
    /**
     * The stream parser xmpp.js uses: 'start' gives the root element, 'element' each complete child of
     * the root (not appended to it), 'end' the root once closed.
     */
    class Parser extends EventEmitter {
      write(data: string): void;
      on(event: 'start' | 'element' | 'end', listener: (el: LtxElement) => void): this;
      on(event: 'error', listener: (err: Error) => void): this;
    }
    function escapeXML(s: string): string;
    function escapeXMLText(s: string): string;
  }
  export = xml;
}

declare module '@xmpp/component' {
  import type { EventEmitter } from 'node:events';
  import type { Socket } from 'node:net';
  import type { Element } from 'ltx';
  import type xmlFn from '@xmpp/xml';

  /** Values of `Connection.status`, in the order a connection normally goes through them. */
  export type ConnectionStatus =
    | 'offline'
    | 'connecting'
    | 'connect'
    | 'opening'
    | 'open'
    | 'online'
    | 'closing'
    | 'close'
    | 'disconnecting'
    | 'disconnect';

  /** A stream error (RFC 6120 §4.9) or stanza error; `condition` is the defined-condition element's name. */
  export interface XmppError extends Error {
    condition: string;
    text?: string;
    element?: Element;
  }

  /** What @xmpp/connection's Connection class offers; @xmpp/client's entity is one too. */
  export interface Connection extends EventEmitter {
    status: ConnectionStatus;
    /** The TCP socket between `connect()` and the socket's close; null otherwise. */
    socket: Socket | null;
    /** Milliseconds xmpp.js waits for stream open/close and for sendReceive answers. */
    timeout: number;
    jid: { toString(): string } | null;
    start(): Promise<unknown>;
    stop(): Promise<unknown>;
    send(element: Element): Promise<void>;
    write(data: string): Promise<void>;
    disconnect(timeoutMs?: number): Promise<void>;

    on(event: 'stanza' | 'nonza' | 'element' | 'send', listener: (element: Element) => void): this;
    on(event: 'error', listener: (error: Error | XmppError) => void): this;
    on(event: 'status', listener: (status: ConnectionStatus, ...args: unknown[]) => void): this;
    on(event: 'online', listener: (jid: { toString(): string }) => void): this;
    on(event: 'open', listener: (header: Element) => void): this;
    on(event: 'close', listener: (footer: Element | undefined) => void): this;
    on(event: 'disconnect', listener: (info: { clean: boolean }) => void): this;
    on(event: 'connect' | 'offline' | 'input' | 'output', listener: (...args: unknown[]) => void): this;
  }

  export interface ComponentEntity extends Connection {
    /** @xmpp/reconnect: re-dials 1 s after every disconnect unless stopped. */
    reconnect: { stop(): void; start(): void; delay: number };
  }

  export function component(options: { service: string; domain: string; password: string }): ComponentEntity;
  export const xml: typeof xmlFn;
}

declare module '@xmpp/client' {
  import type { Connection } from '@xmpp/component';
  import type xmlFn from '@xmpp/xml';
  import type { Element } from 'ltx';

  export interface ClientEntity extends Connection {
    reconnect: { stop(): void; start(): void; delay: number };
    iqCaller: {
      /** Sends an iq get/set and resolves with the whole result stanza; rejects with the stanza error. */
      request(iq: Element, timeoutMs?: number): Promise<Element>;
    };
  }

  export function client(options: {
    service: string;
    domain?: string;
    username?: string;
    password?: string;
    resource?: string;
  }): ClientEntity;
  export const xml: typeof xmlFn;
}
