import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHashingGate } from '../../src/modules/identity/passwords.ts';
import { AppError } from '../../src/platform/errors.ts';
import { createTestContext, PASSWORD, type TestContext, type TestTenant } from '../helpers/harness.ts';

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

describe('hashing gate', () => {
  it('runs at most `concurrency` at once, queues the next in order and refuses beyond the queue', async () => {
    const gate = createHashingGate({ concurrency: 2, queue: 2 });
    const releases: Array<() => void> = [];
    const started: number[] = [];
    const job = (n: number) =>
      gate.run(
        () =>
          new Promise<number>((resolve) => {
            started.push(n);
            releases.push(() => resolve(n));
          }),
      );
    const running = [job(1), job(2), job(3), job(4)];
    await tick();
    expect(started).toEqual([1, 2]);
    expect([gate.active, gate.waiting]).toEqual([2, 2]);
    await expect(job(5)).rejects.toMatchObject({ code: 'server_busy', status: 503 });
    releases.shift()?.();
    await tick();
    expect(started).toEqual([1, 2, 3]);
    while (releases.length > 0) {
      releases.shift()?.();
      await tick();
    }
    expect(await Promise.all(running)).toEqual([1, 2, 3, 4]);
    expect([gate.active, gate.waiting]).toEqual([0, 0]);
  });

  it('frees the slot when the computation fails', async () => {
    const gate = createHashingGate({ concurrency: 1, queue: 0 });
    await expect(gate.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(gate.active).toBe(0);
    expect(await gate.run(async () => 'ok')).toBe('ok');
    expect(new AppError('server_busy', 'x').status).toBe(503);
  });
});

describe('a login storm beyond the gate', () => {
  let ctx: TestContext;
  let tenant: TestTenant;
  beforeAll(async () => {
    ctx = await createTestContext({ config: { passwordHashing: { concurrency: 1, queue: 1 } } });
    tenant = await ctx.tenant();
  });
  afterAll(async () => ctx?.close());

  it('answers 503 server_busy with Retry-After to the excess, signs the others in, never 500', async () => {
    const attempts = await Promise.all(
      Array.from({ length: 8 }, () =>
        ctx.app.inject({
          method: 'POST',
          url: '/v1/auth/login',
          payload: { tenant: tenant.slug, email: tenant.ownerEmail, password: PASSWORD },
        }),
      ),
    );
    const statuses = attempts.map((res) => res.statusCode);
    expect(
      statuses.every((s) => s === 200 || s === 503),
      statuses.join(','),
    ).toBe(true);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(2);
    const busy = attempts.find((res) => res.statusCode === 503);
    expect(busy, statuses.join(',')).toBeDefined();
    expect(busy?.headers['retry-after']).toBe('1');
    expect(busy?.json()).toMatchObject({ code: 'server_busy', status: 503 });
    // Once the storm has passed, the next login goes through.
    const after = await ctx.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { tenant: tenant.slug, email: tenant.ownerEmail, password: PASSWORD },
    });
    expect(after.statusCode, after.body).toBe(200);
  });
});
