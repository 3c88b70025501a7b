import type BetterSqlite3 from 'better-sqlite3';

/**
 * The schema's history, oldest first. `PRAGMA user_version` holds the number of the last one applied.
 *
 * Rules, because a deployed file may be at any earlier version:
 * - never edit or reorder a released migration; add a new one (the unit tests compare a database built
 *   from a frozen copy of v1 with one built from scratch);
 * - `version` is its 1-based position, so the list has no gaps;
 * - a migration runs inside the opening transaction: no `VACUUM`, no `journal_mode` change, no own BEGIN.
 */
export interface Migration {
  readonly version: number;
  readonly description: string;
  /** SQL run with `exec`, or a function for changes SQL alone cannot express (rewriting JSON, say). */
  readonly up: string | ((db: BetterSqlite3.Database) => void);
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'subscriptions, dialogs and presence documents',
    up: `
      CREATE TABLE subscriptions (
        key        TEXT NOT NULL PRIMARY KEY,
        direction  TEXT NOT NULL CHECK (direction IN ('x2s', 's2x')),
        xmpp_jid   TEXT NOT NULL,
        sip_aor    TEXT NOT NULL,
        expires_at INTEGER,
        state      TEXT NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE dialogs (
        key           TEXT NOT NULL PRIMARY KEY,
        call_id       TEXT NOT NULL,
        local_tag     TEXT NOT NULL,
        remote_tag    TEXT,
        local_cseq    INTEGER NOT NULL,
        remote_cseq   INTEGER,
        route_set     TEXT NOT NULL,
        remote_target TEXT,
        local_uri     TEXT NOT NULL,
        remote_uri    TEXT NOT NULL,
        local_contact TEXT,
        expires_at    INTEGER,
        role          TEXT NOT NULL CHECK (role IN ('notifier', 'subscriber')),
        transport     TEXT NOT NULL,
        updated_at    INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE documents (
        contact    TEXT NOT NULL,
        side       TEXT NOT NULL CHECK (side IN ('xmpp', 'sip')),
        document   TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (contact, side)
      ) STRICT;
    `,
  },
  {
    version: 2,
    description: 'dialogs.event: the RFC 6665 event package, so dialogs of other packages can share the table',
    // Every dialog before v2 was a presence dialog, so the default is also the right value for old rows.
    up: `ALTER TABLE dialogs ADD COLUMN event TEXT NOT NULL DEFAULT 'presence';`,
  },
];

export const LATEST_SCHEMA_VERSION: number = MIGRATIONS.length;
