/**
 * Metering across a crash of the server process (kill -9): API calls are counted in memory and
 * flushed in batches, so a crash may lose at most the calls of the last flush interval, and never
 * those already flushed. (Billable quantities are written with their action in one transaction;
 * test/metering proves a rolled-back action records nothing and a committed one exactly.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { getWith, json, OPERATOR_PASSWORD, OWNER_PASSWORD, post, type Running, start, stop } from './support.ts';

const dataDir = mkdtempSync(path.join(tmpdir(), 'palazzo-crash-'));
const FLUSH_MS = 300;
let server: Running | undefined;

afterAll(async () => {
  if (server && server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

async function boot() {
  const running = await start(dataDir, { PALAZZO_USAGE_FLUSH_MS: String(FLUSH_MS) });
  await running.waitFor(/Palazzo is running at (\S+)/);
  return running;
}

describe('metering across kill -9', () => {
  it('keeps every flushed API call and loses at most the calls of the last flush interval', async () => {
    server = await boot();
    const base = server.url;
    const operator = await json(await post(`${base}/v1/operator/login`, { email: 'operator@palazzo.local', password: OPERATOR_PASSWORD }));
    const slug = `crash-${Date.now().toString(36)}`;
    const created = await post(
      `${base}/v1/operator/tenants`,
      { slug, name: 'Crash test', tier: 'enterprise', owner: { email: `owner@${slug}.test`, name: 'Owner', password: OWNER_PASSWORD } },
      operator.accessToken,
    );
    expect(created.status).toBe(201);
    const login = await json(await post(`${base}/v1/auth/login`, { tenant: slug, email: `owner@${slug}.test`, password: OWNER_PASSWORD }));
    const key = await json(await post(`${base}/v1/api-keys`, { name: 'crash', scopes: ['usage.read'] }, login.accessToken));

    const flushed = 25;
    for (let i = 0; i < flushed; i += 1) expect((await getWith(`${base}/v1/me`, key.key)).status).toBe(200);
    // Several flush intervals pass: these calls are in the database now.
    await new Promise((resolve) => setTimeout(resolve, FLUSH_MS * 5));
    const inFlight = 10;
    for (let i = 0; i < inFlight; i += 1) expect((await getWith(`${base}/v1/me`, key.key)).status).toBe(200);
    server.child.kill('SIGKILL');
    const exit = await server.exited;
    expect(exit.signal).toBe('SIGKILL');

    server = await boot();
    const usage = await json(await getWith(`${server.url}/v1/usage`, key.key));
    const apiCalls = usage.data.find((m: { metric: string }) => m.metric === 'api_calls').used as number;
    // The API key creation counted too (the owner's call): flushed before the pause.
    expect(apiCalls).toBeGreaterThanOrEqual(flushed + 1);
    expect(apiCalls).toBeLessThanOrEqual(flushed + 1 + inFlight);
    await stop(server);
  }, 120_000);
});
