export type { DialogRow, DocumentRow, Store, SubscriptionRow } from './types.js';
export { openStore, openStoreReadOnly, STORE_APPLICATION_ID, type OpenStoreOptions, type ReadOnlyStore } from './sqlite.js';
export { StoreError, StoreSchemaError } from './errors.js';
export { LATEST_SCHEMA_VERSION } from './migrations.js';
