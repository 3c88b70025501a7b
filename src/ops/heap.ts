import { setFlagsFromString } from 'node:v8';

/**
 * How far V8 may grow the old generation past what survived the last full GC, in percent. V8's own factor
 * goes up to 4× when its collector is fast, and under a steady load of short-lived transactions (most of
 * them promoted: they wait a round trip to the XMPP server) the heap then swung between about 100 and
 * 400 MB. At 30 % the IM benchmark stayed under 240 MB at 12,000 messages/s for about the same CPU
 * (BENCHMARKS.md). Unlike --max-old-space-size it is no ceiling, so a large live set (100,000 held
 * subscriptions) still fits.
 */
export const HEAP_GROWING_PERCENT = 30;

/** The V8 flag to set, or undefined when the operator already chose one (node option or NODE_OPTIONS). */
export function heapGrowthFlag(execArgv: readonly string[], nodeOptions: string | undefined): string | undefined {
  const chosen = (s: string): boolean => /--heap[-_]growing[-_]percent\b/.test(s);
  if (execArgv.some(chosen) || (nodeOptions !== undefined && chosen(nodeOptions))) return undefined;
  return `--heap-growing-percent=${HEAP_GROWING_PERCENT}`;
}

/** Applies HEAP_GROWING_PERCENT to this process unless the operator set the flag. */
export function boundHeapGrowth(): void {
  const flag = heapGrowthFlag(process.execArgv, process.env.NODE_OPTIONS);
  if (flag !== undefined) setFlagsFromString(flag);
}
