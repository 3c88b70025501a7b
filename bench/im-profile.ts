import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/**
 * Top self-time functions of a V8 .cpuprofile (what `node --cpu-prof` writes), for naming the bottleneck
 * of a benchmark run: `node dist/bench/im-profile.js FILE [N]`.
 */

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: CpuProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileEntry {
  fn: string;
  where: string;
  selfMs: number;
  percent: number;
}

function shortUrl(url: string): string {
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return url.slice(dist + '/dist/'.length);
  return url.replace(/^file:\/\//, '');
}

/**
 * Self time per function (by name and location) and per file over the whole profile; `ours` charges each
 * sample to the nearest Stox function on its stack (dist/src), so time spent in Node, V8 natives and
 * dependencies on Stox's behalf shows up against the Stox function that asked for it.
 */
export function topSelfTime(file: string, n = 25): { totalMs: number; functions: ProfileEntry[]; files: ProfileEntry[]; ours: ProfileEntry[]; inclusive: ProfileEntry[] } {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  p.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const parent = new Map<number, number>();
  for (const node of p.nodes) for (const c of node.children ?? []) parent.set(c, node.id);
  const fns = new Map<string, ProfileEntry>();
  const files = new Map<string, ProfileEntry>();
  const ours = new Map<string, ProfileEntry>();
  const inclusive = new Map<string, ProfileEntry>();
  const describe = (id: number): { fn: string; where: string; key: string; url: string } => {
    const cf = byId.get(id)!.callFrame;
    const where = cf.url ? `${shortUrl(cf.url)}:${cf.lineNumber + 1}` : '(native)';
    const fn = cf.functionName || '(anonymous)';
    return { fn, where, key: `${fn} ${where}`, url: cf.url };
  };
  const add = (m: Map<string, ProfileEntry>, d: { fn: string; where: string; key: string }, us: number): void => {
    const e = m.get(d.key) ?? { fn: d.fn, where: d.where, selfMs: 0, percent: 0 };
    e.selfMs += us / 1000;
    m.set(d.key, e);
  };
  for (const [id, us] of selfUs) {
    const cf = byId.get(id)!.callFrame;
    const d = describe(id);
    add(fns, d, us);
    const seen = new Set<string>();
    let owner: ReturnType<typeof describe> | undefined;
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const a = describe(at);
      if (!owner && a.url.includes('/dist/src/')) owner = a;
      if (a.url.includes('/dist/src/') && !seen.has(a.key)) {
        seen.add(a.key);
        add(inclusive, a, us);
      }
    }
    add(ours, owner ?? { fn: d.fn.startsWith('(') ? d.fn : '(outside Stox code)', where: '', key: d.fn.startsWith('(') ? d.fn : '(outside)' }, us);
    const fileKey = cf.url ? shortUrl(cf.url) : d.fn.startsWith('(') ? d.fn : '(native)';
    const f = files.get(fileKey) ?? { fn: fileKey, where: '', selfMs: 0, percent: 0 };
    f.selfMs += us / 1000;
    files.set(fileKey, f);
  }
  const finish = (m: Map<string, ProfileEntry>): ProfileEntry[] =>
    [...m.values()]
      .map((e) => ({ ...e, selfMs: Math.round(e.selfMs), percent: Math.round((1000 * e.selfMs * 1000) / total) / 10 }))
      .sort((a, b) => b.selfMs - a.selfMs)
      .slice(0, n);
  return { totalMs: Math.round(total / 1000), functions: finish(fns), files: finish(files), ours: finish(ours), inclusive: finish(inclusive) };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node dist/bench/im-profile.js FILE.cpuprofile [N]');
    process.exit(2);
  }
  const r = topSelfTime(file, Number(process.argv[3] ?? 25));
  console.log(`total sampled: ${r.totalMs} ms`);
  console.log('| self ms | % | function | where |\n|---:|---:|---|---|');
  for (const e of r.functions) console.log(`| ${e.selfMs} | ${e.percent} | ${e.fn} | ${e.where} |`);
  console.log('\n| self ms | % | file |\n|---:|---:|---|');
  for (const e of r.files) console.log(`| ${e.selfMs} | ${e.percent} | ${e.fn} |`);
  console.log('\n| ms charged to the nearest Stox function | % | function | where |\n|---:|---:|---|---|');
  for (const e of r.ours) console.log(`| ${e.selfMs} | ${e.percent} | ${e.fn} | ${e.where} |`);
  console.log('\n| inclusive ms | % | Stox function | where |\n|---:|---:|---|---|');
  for (const e of r.inclusive) console.log(`| ${e.selfMs} | ${e.percent} | ${e.fn} | ${e.where} |`);
}
