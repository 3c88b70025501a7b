/** The store cannot be opened or used as it is; the message says what to do about it. */
export class StoreError extends Error {
  override readonly name: string = 'StoreError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * The file was written by a newer Stox (or is not a Stox store). Refusing is the only safe answer: an
 * older schema would misread or clobber columns it does not know, and there is no down-migration.
 */
export class StoreSchemaError extends StoreError {
  override readonly name: string = 'StoreSchemaError';
  constructor(
    message: string,
    readonly path: string,
    readonly found: number,
    readonly supported: number,
  ) {
    super(message);
  }
}
