import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/**
 * What a V8 heap snapshot holds, by kind of object, for naming where the bytes of held subscriptions go
 * (BENCH_PRESENCE_HEAP=DIR makes the memory benchmark write one per store kind):
 * `node --max-old-space-size=8000 dist/bench/presence-heap.js FILE [N]`. Strings are also grouped by
 * shape (digits and hex runs folded), which tells a key from a tag from a URI.
 */

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

export interface HeapGroup {
  group: string;
  count: number;
  bytes: number;
}

export function summarizeHeap(snap: HeapSnapshot): { totalBytes: number; byKind: HeapGroup[]; stringsByShape: HeapGroup[] } {
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  const byKind = new Map<string, HeapGroup>();
  const byShape = new Map<string, HeapGroup>();
  let totalBytes = 0;
  const add = (m: Map<string, HeapGroup>, group: string, bytes: number): void => {
    const g = m.get(group) ?? { group, count: 0, bytes: 0 };
    g.count++;
    g.bytes += bytes;
    m.set(group, g);
  };
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + iType]!] ?? '?';
    const name = snap.strings[snap.nodes[i + iName]!] ?? '';
    const bytes = snap.nodes[i + iSize]!;
    totalBytes += bytes;
    // Objects are named by constructor; other kinds (string, array, number, code) by kind alone.
    add(byKind, type === 'object' || type === 'native' || type === 'closure' ? `${type}: ${name}` : type, bytes);
    if (type === 'string' || type === 'concatenated string' || type === 'sliced string') {
      const shape = type === 'string' ? name.replace(/[0-9a-f]{6,}/g, 'H').replace(/\d+/g, 'N').slice(0, 60) : `(${type})`;
      add(byShape, shape, bytes);
    }
  }
  const top = (m: Map<string, HeapGroup>): HeapGroup[] => [...m.values()].sort((a, b) => b.bytes - a.bytes);
  return { totalBytes, byKind: top(byKind), stringsByShape: top(byShape) };
}

function main(): void {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node --max-old-space-size=8000 dist/bench/presence-heap.js FILE.heapsnapshot [N]');
    process.exitCode = 2;
    return;
  }
  const n = Number(process.argv[3] ?? 15);
  const s = summarizeHeap(JSON.parse(readFileSync(file, 'utf8')) as HeapSnapshot);
  const mb = (b: number): string => (b / 2 ** 20).toFixed(2);
  console.log(`live heap: ${mb(s.totalBytes)} MB`);
  console.log('| MB | count | kind |\n|---:|---:|---|');
  for (const g of s.byKind.slice(0, n)) console.log(`| ${mb(g.bytes)} | ${g.count} | ${g.group} |`);
  console.log('\n| MB | count | string shape |\n|---:|---:|---|');
  for (const g of s.stringsByShape.slice(0, n)) console.log(`| ${mb(g.bytes)} | ${g.count} | ${JSON.stringify(g.group)} |`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
