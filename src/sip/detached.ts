/**
 * A copy of `s` that shares no memory with the string it was cut from. Parsers slice header values out of
 * one string per message, and V8 keeps that whole string alive for as long as any slice lives, so
 * anything kept long after its message (a Timer J key, the metadata for late bounces) would hold the
 * message's entire text. Concatenating flattens into a fresh string; slicing that one drops the added
 * character. Cheaper than a round trip through a Buffer.
 */
export function detached(s: string): string {
  return (' ' + s).slice(1);
}
