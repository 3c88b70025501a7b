import { Writable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { createLogger, lazyChild } from '../../../src/ops/logging.js';

function capture(level: string): { lines: Array<Record<string, unknown>>; logger: ReturnType<typeof createLogger> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: createLogger(level, sink) };
}

describe('lazyChild', () => {
  it('logs with the bindings, as parent.child(bindings) would, and makes the child once', async () => {
    const { lines, logger } = capture('info');
    const spy = vi.spyOn(logger, 'child');
    const log = lazyChild(logger, { callId: 'abc@host', method: 'MESSAGE' });
    expect(spy).not.toHaveBeenCalled();
    log.info({ status: 202 }, 'answered');
    log.warn('again');
    expect(log.isLevelEnabled('debug')).toBe(false);
    await new Promise((r) => setImmediate(r));
    expect(spy).toHaveBeenCalledTimes(1);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ callId: 'abc@host', method: 'MESSAGE', status: 202, msg: 'answered', level: 30 });
    expect(lines[1]).toMatchObject({ callId: 'abc@host', msg: 'again', level: 40 });
  });

  it('a disabled level writes nothing and builds no child', async () => {
    const { lines, logger } = capture('info');
    const spy = vi.spyOn(logger, 'child');
    const log = lazyChild(logger, { callId: 'x' });
    log.debug({ a: 1 }, 'not written');
    log.trace('nor this');
    await new Promise((r) => setImmediate(r));
    expect(spy).not.toHaveBeenCalled();
    expect(lines).toHaveLength(0);
  });

  it('children of the lazy child carry both sets of bindings', async () => {
    const { lines, logger } = capture('info');
    lazyChild(logger, { callId: 'c1' }).child({ component: 'im' }).error('failed');
    await new Promise((r) => setImmediate(r));
    expect(lines[0]).toMatchObject({ callId: 'c1', component: 'im', msg: 'failed', level: 50 });
  });
});
