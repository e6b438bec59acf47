/**
 * Knowledge bases and document ingestion through the API (issue 6, F-E1): every accepted type parsed
 * to `ready` with offsets that point into the extracted text, hostile and broken uploads refused or
 * failed with a stable code while the server keeps answering, re-indexing, deletion with chunks and
 * vectors, tier limits, embeddings (and their failure), and other tenants' ids answered as missing.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext, type TestTenant } from '../helpers/harness.ts';
import { expectProblem } from '../security/support.ts';
import { createFakeEmbedder, makeDocx, makeExe, makeManyEntriesDocx, makePdf, makeZipBombDocx, multipart } from './support.ts';

/** Zeroes a stretch in the middle of the file: the zip's structure at both ends survives, its compressed data does not. */
function corruptMiddle(bytes: Buffer): Buffer {
  const copy = Buffer.from(bytes);
  const middle = Math.floor(copy.length / 2);
  copy.fill(0, middle - 200, middle + 200);
  return copy;
}

const MAX_FILE_BYTES = 1024 * 1024;
let ctx: TestContext;
let tenant: TestTenant;
const fake = createFakeEmbedder();
let vectorsTable = false;

beforeAll(async () => {
  ctx = await createTestContext({
    config: { knowledge: { maxFileBytes: MAX_FILE_BYTES, parseTimeoutMs: 20_000, parseMemoryMb: 256 } },
    build: { embedder: fake.embedder },
  });
  tenant = await ctx.tenant();
  vectorsTable = await ctx.db.withOwner(async (tx) => {
    const { rows } = await tx.query<{ present: boolean }>(`SELECT to_regclass('knowledge_chunk_vectors') IS NOT NULL AS present`);
    return rows[0]?.present === true;
  });
});

afterAll(async () => {
  await ctx?.close();
});

type Auth = { authorization: string };

async function createBase(auth: Auth, body: object = {}) {
  const res = await ctx.app.inject({
    method: 'POST',
    url: '/v1/knowledge-bases',
    headers: auth,
    payload: { name: `kb-${randomUUID().slice(0, 8)}`, description: 'test base', ...body },
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as { id: string; language: string; chunkSize: number | null };
}

function upload(auth: Auth, baseId: string, file: Buffer, filename: string, fields?: Record<string, string>) {
  const body = multipart(file, { filename, fields });
  return ctx.app.inject({
    method: 'POST',
    url: `/v1/knowledge-bases/${baseId}/documents`,
    headers: { ...auth, ...body.headers },
    payload: body.payload,
  });
}

async function getDocument(auth: Auth, baseId: string, id: string) {
  const res = await ctx.app.inject({ method: 'GET', url: `/v1/knowledge-bases/${baseId}/documents/${id}`, headers: auth });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

/**
 * Runs the queue until no ingestion is left to do. On PostgreSQL the job table is shared by every
 * test file of the run, so another process may be running one of ours: wait for it too.
 */
async function drain() {
  for (let i = 0; i < 1200; i++) {
    await ctx.palazzo.services.jobs.drain();
    const { rows } = await ctx.db.withOwner((tx) =>
      tx.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM jobs WHERE kind = 'knowledge.ingest' AND (status = 'running' OR (status = 'queued' AND run_at <= now()))`,
      ),
    );
    if ((rows[0]?.n ?? 0) === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('ingestion jobs did not finish within a minute');
}

async function chunksOf(tenantId: string, documentId: string) {
  return ctx.db.withOwner(async (tx) => {
    const doc = await tx.query<{ extracted_text: string }>(
      'SELECT extracted_text FROM knowledge_documents WHERE tenant_id = $1 AND id = $2',
      [tenantId, documentId],
    );
    const chunks = await tx.query<{
      id: string;
      ordinal: number;
      heading: string;
      content: string;
      start_offset: number;
      end_offset: number;
      has_tsv: boolean;
    }>(
      `SELECT id, ordinal, heading, content, start_offset, end_offset, tsv <> ''::tsvector AS has_tsv FROM knowledge_chunks
       WHERE tenant_id = $1 AND document_id = $2 ORDER BY ordinal`,
      [tenantId, documentId],
    );
    return { text: doc.rows[0]?.extracted_text ?? null, chunks: chunks.rows };
  });
}

async function vectorCount(tenantId: string, documentId: string): Promise<number> {
  if (!vectorsTable) return 0;
  return ctx.db.withOwner(async (tx) => {
    const { rows } = await tx.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM knowledge_chunk_vectors v JOIN knowledge_chunks c ON c.tenant_id = v.tenant_id AND c.id = v.chunk_id
       WHERE v.tenant_id = $1 AND c.document_id = $2`,
      [tenantId, documentId],
    );
    return rows[0]?.n ?? 0;
  });
}

const LONG_MARKDOWN = [
  '# Handbook',
  '',
  'Welcome to the handbook of the villa.',
  '',
  '## Billing',
  '',
  ...Array.from(
    { length: 30 },
    (_, i) => `Invoices are issued on day ${i + 1} of the month. Payment is due within thirty days of the invoice.`,
  ),
  '',
  '### Refunds',
  '',
  'Refunds are granted within 30 days of purchase. Contact the front desk to ask for one.',
  '',
  '## Check-in',
  '',
  'Check-in starts at 3 pm.',
].join('\n');

describe('knowledge bases', () => {
  it('creates, lists with a cursor, reads, renames and deletes; the language follows the tenant locale', async () => {
    const a = await createBase(tenant.auth);
    const b = await createBase(tenant.auth, { language: 'italian', chunkSize: 500, chunkOverlap: 50 });
    expect(a.language).toBe('english');
    expect(b).toMatchObject({ language: 'italian', chunkSize: 500 });
    const first = await ctx.app.inject({ method: 'GET', url: '/v1/knowledge-bases?limit=1', headers: tenant.auth });
    expect(first.statusCode).toBe(200);
    expect(first.json().data).toHaveLength(1);
    const next = await ctx.app.inject({
      method: 'GET',
      url: `/v1/knowledge-bases?limit=1&cursor=${first.json().nextCursor}`,
      headers: tenant.auth,
    });
    expect(next.json().data[0].id).not.toBe(first.json().data[0].id);
    const renamed = await ctx.app.inject({
      method: 'PATCH',
      url: `/v1/knowledge-bases/${a.id}`,
      headers: tenant.auth,
      payload: { name: 'Renamed' },
    });
    expect(renamed.statusCode, renamed.body).toBe(200);
    expect(renamed.json()).toMatchObject({ name: 'Renamed', reindexing: 0 });
    const duplicate = await ctx.app.inject({
      method: 'POST',
      url: '/v1/knowledge-bases',
      headers: tenant.auth,
      payload: { name: 'Renamed' },
    });
    expectProblem(duplicate, 409, 'conflict');
    const badOverlap = await ctx.app.inject({
      method: 'POST',
      url: '/v1/knowledge-bases',
      headers: tenant.auth,
      payload: { name: 'bad', chunkSize: 200, chunkOverlap: 300 },
    });
    expectProblem(badOverlap, 400, 'validation_failed');
    for (const id of [a.id, b.id]) {
      expect((await ctx.app.inject({ method: 'DELETE', url: `/v1/knowledge-bases/${id}`, headers: tenant.auth })).statusCode).toBe(204);
    }
    expectProblem(await ctx.app.inject({ method: 'GET', url: `/v1/knowledge-bases/${a.id}`, headers: tenant.auth }), 404, 'not_found');
  });
});

describe('every accepted type reaches ready', () => {
  it('parses text, Markdown, HTML, CSV, PDF and DOCX; chunks are slices of the extracted text with heading paths', async () => {
    const base = await createBase(tenant.auth, { chunkSize: 300, chunkOverlap: 60 });
    const html =
      '<!doctype html><html><head><title>t</title><style>.x{color:red}</style><script>alert("no")</script></head>' +
      '<body><h1>Guide</h1><p>Breakfast is served from seven.</p><h2>Pool</h2><p>The pool opens at nine.</p></body></html>';
    const files: Array<[string, Buffer, string, string]> = [
      ['notes.txt', Buffer.from('Plain notes about the garden.\n\nThe garden closes at dusk.'), 'text/plain', 'garden closes'],
      ['handbook.md', Buffer.from(LONG_MARKDOWN), 'text/markdown', 'Refunds are granted'],
      ['page.html', Buffer.from(html), 'text/html', 'pool opens'],
      ['rooms.csv', Buffer.from('room,view,price\nAurora,sea,200\nBorea,garden,150\n'), 'text/csv', 'room: Aurora; view: sea; price: 200'],
      [
        'brochure.pdf',
        await makePdf(['Spa treatments are booked at reception.', 'Second page: parking is free.']),
        'application/pdf',
        'parking is free',
      ],
      [
        'policy.docx',
        await makeDocx([
          [1, 'Policies'],
          [0, 'Pets are welcome in garden rooms.'],
          [2, 'Smoking'],
          [0, 'Smoking is allowed on the terrace only.'],
        ]),
        'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
        'terrace only',
      ],
    ];
    const ids = new Map<string, string>();
    for (const [name, bytes, type] of files) {
      const res = await upload(tenant.auth, base.id, bytes, name, name === 'notes.txt' ? { title: 'Garden notes' } : undefined);
      expect(res.statusCode, res.body).toBe(202);
      expect(res.json()).toMatchObject({ status: 'queued', mediaType: type, filename: name, sizeBytes: bytes.length, chunkCount: 0 });
      ids.set(name, res.json().id);
    }
    expect(ids.size).toBe(files.length);
    const queued = await ctx.app.inject({
      method: 'GET',
      url: `/v1/knowledge-bases/${base.id}/documents?status=queued`,
      headers: tenant.auth,
    });
    expect(queued.json().data).toHaveLength(files.length);
    await drain();
    for (const [name, , , needle] of files) {
      const doc = await getDocument(tenant.auth, base.id, ids.get(name) as string);
      expect(doc.status, `${name}: ${JSON.stringify(doc.failure)}`).toBe('ready');
      expect(doc.chunkCount).toBeGreaterThan(0);
      expect(doc.chunking).toEqual({ size: 300, overlap: 60 });
      expect(doc.embeddingModel).toBe(vectorsTable ? 'fake-embed-8' : null);
      const { text, chunks } = await chunksOf(tenant.id, doc.id);
      expect(text, name).toContain(needle);
      expect(chunks).toHaveLength(doc.chunkCount);
      for (const chunk of chunks) {
        expect(text?.slice(chunk.start_offset, chunk.end_offset), `${name} chunk ${chunk.ordinal}`).toBe(chunk.content);
        expect(chunk.content.length).toBeLessThanOrEqual(300);
        expect(chunk.has_tsv).toBe(true);
      }
      expect(await vectorCount(tenant.id, doc.id)).toBe(vectorsTable ? chunks.length : 0);
    }
    expect((await getDocument(tenant.auth, base.id, ids.get('notes.txt') as string)).title).toBe('Garden notes');
    // Structure: Markdown and DOCX headings become heading paths; HTML drops scripts and styles.
    const md = await chunksOf(tenant.id, ids.get('handbook.md') as string);
    expect(md.chunks.map((c) => c.heading)).toContain('Handbook > Billing > Refunds');
    expect(md.chunks.filter((c) => c.heading === 'Handbook > Billing').length).toBeGreaterThan(3);
    // Consecutive chunks of one section overlap.
    const billing = md.chunks.filter((c) => c.heading === 'Handbook > Billing');
    expect(billing.some((c, i) => i > 0 && c.start_offset < (billing[i - 1]?.end_offset ?? 0))).toBe(true);
    const docx = await chunksOf(tenant.id, ids.get('policy.docx') as string);
    expect(docx.chunks.map((c) => c.heading)).toEqual(['Policies', 'Policies > Smoking']);
    const page = await chunksOf(tenant.id, ids.get('page.html') as string);
    expect(page.text).not.toContain('alert');
    expect(page.text).not.toContain('color:red');
    expect(page.chunks.map((c) => c.heading)).toEqual(['Guide', 'Guide > Pool']);
    // The full-text index answers in the base's language.
    const hits = await ctx.db.withTenant(tenant.id, (tx) =>
      tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM knowledge_chunks WHERE tsv @@ plainto_tsquery('english', 'refund granted')`),
    );
    expect(hits.rows[0]?.n).toBeGreaterThan(0);
    const ready = await ctx.app.inject({
      method: 'GET',
      url: `/v1/knowledge-bases/${base.id}/documents?status=ready&limit=2`,
      headers: tenant.auth,
    });
    expect(ready.json().data).toHaveLength(2);
    expect(ready.json().nextCursor).toBeTruthy();
  });
});

describe('bad input is refused or fails with a stable code, and the server keeps serving', () => {
  it('refuses disguised, empty and oversized uploads before storing anything', async () => {
    const base = await createBase(tenant.auth);
    expectProblem(await upload(tenant.auth, base.id, makeExe(), 'invoice.pdf'), 415, 'unsupported_media_type');
    const html = await upload(tenant.auth, base.id, Buffer.from('<html><body><script>x</script></body></html>'), 'report.pdf');
    expectProblem(html, 415, 'unsupported_media_type');
    expect(html.json().detail).toMatch(/named \.pdf/);
    expectProblem(
      await upload(tenant.auth, base.id, Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x02]), 'data.txt'),
      415,
      'unsupported_media_type',
    );
    expectProblem(await upload(tenant.auth, base.id, Buffer.alloc(0), 'empty.txt'), 422, 'empty_file');
    const big = await upload(tenant.auth, base.id, Buffer.alloc(MAX_FILE_BYTES + 1, 0x61), 'big.txt');
    expectProblem(big, 413, 'payload_too_large');
    // No file field, or not multipart at all.
    const noFile = multipart(Buffer.from('x'), { field: 'other', filename: 'x.txt' });
    expectProblem(
      await ctx.app.inject({
        method: 'POST',
        url: `/v1/knowledge-bases/${base.id}/documents`,
        headers: { ...tenant.auth, ...noFile.headers },
        payload: noFile.payload,
      }),
      400,
      'validation_failed',
    );
    expectProblem(
      await ctx.app.inject({
        method: 'POST',
        url: `/v1/knowledge-bases/${base.id}/documents`,
        headers: tenant.auth,
        payload: { file: 'x' },
      }),
      415,
      'unsupported_media_type',
    );
    // A PDF named .txt is simply a PDF; a hostile name is cleaned and never a path.
    const pdf = await upload(tenant.auth, base.id, await makePdf(['Named wrongly.']), '../../etc/passwd.txt');
    expect(pdf.statusCode, pdf.body).toBe(202);
    expect(pdf.json()).toMatchObject({ mediaType: 'application/pdf', filename: 'passwd.txt' });
    const list = await ctx.app.inject({ method: 'GET', url: `/v1/knowledge-bases/${base.id}/documents`, headers: tenant.auth });
    expect(list.json().data).toHaveLength(1);
  });

  it('fails corrupt PDF and DOCX, zip bombs and a deeply nested HTML cleanly while other requests are answered', async () => {
    const base = await createBase(tenant.auth);
    const pdf = await makePdf(['A perfectly good PDF until it is cut.']);
    const cases: Array<[string, Buffer, string[]]> = [
      [
        'broken.pdf',
        Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.from('1 0 obj << /Type /Catalog garbage')]),
        ['corrupt_file', 'empty_document'],
      ],
      ['cut.pdf', pdf.subarray(0, Math.floor(pdf.length / 3)), ['corrupt_file', 'empty_document']],
      [
        'broken.docx',
        corruptMiddle(
          await makeDocx([
            [1, 'Title'],
            [0, 'Some text that will be damaged. '.repeat(50)],
          ]),
        ),
        ['corrupt_file'],
      ],
      ['bomb.docx', makeZipBombDocx(40), ['archive_bomb']],
      ['many.docx', makeManyEntriesDocx(3000), ['archive_bomb']],
      ['scanned.pdf', await makePdf(['']), ['empty_document']],
    ];
    const ids: Array<[string, string, string[]]> = [];
    for (const [name, bytes, codes] of cases) {
      const res = await upload(tenant.auth, base.id, bytes, name);
      if (res.statusCode === 415 && name === 'cut.pdf') {
        // A truncated file may no longer even look like its type: refused up front, which is fine too.
        expectProblem(res, 415, 'unsupported_media_type');
        continue;
      }
      expect(res.statusCode, `${name}: ${res.body}`).toBe(202);
      ids.push([name, res.json().id, codes]);
    }
    expect(ids.length).toBeGreaterThanOrEqual(5);
    // Meanwhile the API answers: parsing happens in the worker thread.
    const draining = drain();
    const started = Date.now();
    const me = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: tenant.auth });
    expect(me.statusCode).toBe(200);
    expect(Date.now() - started).toBeLessThan(5000);
    await draining;
    for (const [name, id, codes] of ids) {
      const doc = await getDocument(tenant.auth, base.id, id);
      expect(doc.status, `${name}: ${JSON.stringify(doc)}`).toBe('failed');
      expect(codes, name).toContain(doc.failure.code);
      expect(doc.failure.reason.length).toBeGreaterThan(10);
      expect(doc.chunkCount).toBe(0);
    }
    const failed = await ctx.app.inject({
      method: 'GET',
      url: `/v1/knowledge-bases/${base.id}/documents?status=failed`,
      headers: tenant.auth,
    });
    expect(failed.json().data).toHaveLength(ids.length);
  });

  it('a deeply nested HTML fails or is read within the limits, never blocks the API', async () => {
    const slow = await createTestContext({
      config: { knowledge: { maxFileBytes: 8 * 1024 * 1024, parseTimeoutMs: 3000, parseMemoryMb: 64 } },
      build: { embedder: fake.embedder },
    });
    try {
      const owner = await slow.tenant();
      const res = await slow.app.inject({ method: 'POST', url: '/v1/knowledge-bases', headers: owner.auth, payload: { name: 'deep' } });
      const baseId = res.json().id as string;
      const deep = Buffer.from(`<html><body>${'<div>'.repeat(150_000)}deep${'</div>'.repeat(150_000)}</body></html>`);
      const body = multipart(deep, { filename: 'deep.html' });
      const up = await slow.app.inject({
        method: 'POST',
        url: `/v1/knowledge-bases/${baseId}/documents`,
        headers: { ...owner.auth, ...body.headers },
        payload: body.payload,
      });
      expect(up.statusCode, up.body).toBe(202);
      const draining = slow.palazzo.services.jobs.drain();
      const t0 = Date.now();
      expect((await slow.app.inject({ method: 'GET', url: '/v1/me', headers: owner.auth })).statusCode).toBe(200);
      expect(Date.now() - t0).toBeLessThan(3000);
      await draining;
      const doc = (
        await slow.app.inject({ method: 'GET', url: `/v1/knowledge-bases/${baseId}/documents/${up.json().id}`, headers: owner.auth })
      ).json();
      expect(doc.status).toBe('failed');
      expect(['parse_timeout', 'too_complex']).toContain(doc.failure.code);
      // The next document is parsed by a fresh worker.
      const ok = multipart(Buffer.from('After the storm, calm.'), { filename: 'calm.txt' });
      const next = await slow.app.inject({
        method: 'POST',
        url: `/v1/knowledge-bases/${baseId}/documents`,
        headers: { ...owner.auth, ...ok.headers },
        payload: ok.payload,
      });
      await slow.palazzo.services.jobs.drain();
      const calm = (
        await slow.app.inject({ method: 'GET', url: `/v1/knowledge-bases/${baseId}/documents/${next.json().id}`, headers: owner.auth })
      ).json();
      expect(calm.status).toBe('ready');
    } finally {
      await slow.close();
    }
  });
});

describe('re-indexing, deletion and embeddings', () => {
  it('re-chunks when the base chunking changes and on demand; delete removes chunks and vectors', async () => {
    const base = await createBase(tenant.auth, { chunkSize: 2000, chunkOverlap: 0 });
    const res = await upload(tenant.auth, base.id, Buffer.from(LONG_MARKDOWN), 'handbook.md');
    const id = res.json().id as string;
    await drain();
    const before = await getDocument(tenant.auth, base.id, id);
    expect(before.status).toBe('ready');
    const patched = await ctx.app.inject({
      method: 'PATCH',
      url: `/v1/knowledge-bases/${base.id}`,
      headers: tenant.auth,
      payload: { chunkSize: 200, chunkOverlap: 40 },
    });
    expect(patched.json()).toMatchObject({ reindexing: 1, chunkSize: 200 });
    // Until the new chunks replace them, the old ones stay (search never sees a gap).
    expect((await chunksOf(tenant.id, id)).chunks).toHaveLength(before.chunkCount);
    expect((await getDocument(tenant.auth, base.id, id)).status).toBe('queued');
    await drain();
    const after = await getDocument(tenant.auth, base.id, id);
    expect(after).toMatchObject({ status: 'ready', chunking: { size: 200, overlap: 40 } });
    expect(after.chunkCount).toBeGreaterThan(before.chunkCount);
    // Explicit re-index of a document and of the base.
    const one = await ctx.app.inject({
      method: 'POST',
      url: `/v1/knowledge-bases/${base.id}/documents/${id}/reindex`,
      headers: tenant.auth,
    });
    expect(one.statusCode, one.body).toBe(202);
    expect(one.json().status).toBe('queued');
    const all = await ctx.app.inject({ method: 'POST', url: `/v1/knowledge-bases/${base.id}/reindex`, headers: tenant.auth });
    expect(all.statusCode).toBe(202);
    expect(all.json()).toEqual({ queued: 1 });
    await drain();
    expect((await getDocument(tenant.auth, base.id, id)).chunkCount).toBe(after.chunkCount);
    expect(await vectorCount(tenant.id, id)).toBe(vectorsTable ? after.chunkCount : 0);
    const removed = await ctx.app.inject({ method: 'DELETE', url: `/v1/knowledge-bases/${base.id}/documents/${id}`, headers: tenant.auth });
    expect(removed.statusCode).toBe(204);
    expect((await chunksOf(tenant.id, id)).chunks).toHaveLength(0);
    expect(await vectorCount(tenant.id, id)).toBe(0);
    expectProblem(
      await ctx.app.inject({ method: 'GET', url: `/v1/knowledge-bases/${base.id}/documents/${id}`, headers: tenant.auth }),
      404,
    );
    // Every write is on the audit record (the request's tenant transaction commits with its entry).
    const audit = await ctx.app.inject({ method: 'GET', url: '/v1/audit-log?action=knowledge_bases&limit=200', headers: tenant.auth });
    expect(audit.statusCode, audit.body).toBe(200);
    const actions = new Set((audit.json().data as Array<{ action: string }>).map((e) => e.action));
    for (const action of [
      'knowledge_bases.create',
      'knowledge_bases.update',
      'knowledge_bases.reindex',
      'knowledge_bases.documents.create',
      'knowledge_bases.documents.reindex',
      'knowledge_bases.documents.delete',
    ]) {
      expect(actions, action).toContain(action);
    }
  });

  it("re-indexes, after a change of the tenant's chunking configuration, the documents of bases that follow it", async () => {
    const owner = await ctx.tenant();
    const follows = await createBase(owner.auth);
    const overrides = await createBase(owner.auth, { chunkSize: 2000, chunkOverlap: 100 });
    const a = (await upload(owner.auth, follows.id, Buffer.from(LONG_MARKDOWN), 'a.md')).json().id as string;
    const b = (await upload(owner.auth, overrides.id, Buffer.from(LONG_MARKDOWN), 'b.md')).json().id as string;
    await drain();
    expect((await getDocument(owner.auth, follows.id, a)).chunking).toEqual({ size: 1000, overlap: 150 });
    const patch = await ctx.app.inject({
      method: 'PATCH',
      url: '/v1/config',
      headers: { ...owner.auth, 'if-match': '*' },
      payload: { retrieval: { chunkSize: 300, chunkOverlap: 30 } },
    });
    expect(patch.statusCode, patch.body).toBe(200);
    // The re-index is queued by the configuration change's notification, just after the write.
    let status = '';
    for (let i = 0; i < 100 && status !== 'queued'; i++) {
      status = (await getDocument(owner.auth, follows.id, a)).status;
      if (status !== 'queued') await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(status).toBe('queued');
    expect((await getDocument(owner.auth, overrides.id, b)).status).toBe('ready');
    await drain();
    expect(await getDocument(owner.auth, follows.id, a)).toMatchObject({ status: 'ready', chunking: { size: 300, overlap: 30 } });
    expect((await getDocument(owner.auth, overrides.id, b)).chunking).toEqual({ size: 2000, overlap: 100 });
  });

  it('an embedding outage still indexes the document for full-text search and says why', async () => {
    const base = await createBase(tenant.auth);
    fake.state.fail = true;
    try {
      const res = await upload(tenant.auth, base.id, Buffer.from('The sauna is heated every evening.'), 'sauna.txt');
      await drain();
      const doc = await getDocument(tenant.auth, base.id, res.json().id);
      expect(doc.status).toBe('ready');
      expect(doc.embeddingModel).toBeNull();
      expect(doc.embeddingError).toBe(vectorsTable ? 'provider_error' : null);
      expect(doc.chunkCount).toBe(1);
    } finally {
      fake.state.fail = false;
    }
  });

  it('a job claimed after its last attempt died with the process fails the document cleanly', async () => {
    const base = await createBase(tenant.auth);
    const res = await upload(tenant.auth, base.id, Buffer.from('Interrupted again and again.'), 'again.txt');
    const id = res.json().id as string;
    // As if three processes died mid-ingestion: the job is running with its attempts used up.
    await ctx.db.withOwner((tx) =>
      tx.query(
        `UPDATE jobs SET status = 'running', attempts = max_attempts, locked_at = now() - interval '1 hour'
         WHERE kind = 'knowledge.ingest' AND payload->>'documentId' = $1`,
        [id],
      ),
    );
    expect(await ctx.palazzo.services.jobs.requeueAbandoned()).toBeGreaterThanOrEqual(1);
    await drain();
    const doc = await getDocument(tenant.auth, base.id, id);
    expect(doc).toMatchObject({ status: 'failed', failure: { code: 'ingestion_failed' } });
  });
});

describe('limits and usage', () => {
  it("enforces the tier's knowledge bases, documents and storage limits with 429 quota_exceeded", async () => {
    const small = await ctx.tenant({ tier: 'custom', customLimits: { knowledgeBases: 1, documents: 2, storageBytes: 100 } });
    const base = await createBase(small.auth);
    const second = await ctx.app.inject({ method: 'POST', url: '/v1/knowledge-bases', headers: small.auth, payload: { name: 'second' } });
    expectProblem(second, 429, 'quota_exceeded');
    expect(second.json()).toMatchObject({ metric: 'knowledge_bases', limit: 1 });
    const tooBig = await upload(small.auth, base.id, Buffer.alloc(101, 0x61), 'big.txt');
    expectProblem(tooBig, 429, 'quota_exceeded');
    expect(tooBig.json().metric).toBe('storage_bytes');
    for (const n of [1, 2]) expect((await upload(small.auth, base.id, Buffer.from(`doc ${n}`), `d${n}.txt`)).statusCode).toBe(202);
    const third = await upload(small.auth, base.id, Buffer.from('doc 3'), 'd3.txt');
    expectProblem(third, 429, 'quota_exceeded');
    expect(third.json().metric).toBe('documents');
    const usage = await ctx.app.inject({ method: 'GET', url: '/v1/usage', headers: small.auth });
    const used = Object.fromEntries((usage.json().data as Array<{ metric: string; used: number }>).map((m) => [m.metric, m.used]));
    expect(used).toMatchObject({ knowledge_bases: 1, documents: 2, storage_bytes: 10 });
  });
});

describe('permissions and isolation', () => {
  it("answers another tenant's base and document ids exactly like missing ones on every route", async () => {
    const base = await createBase(tenant.auth);
    const res = await upload(tenant.auth, base.id, Buffer.from('Private to tenant A.'), 'a.txt');
    const docId = res.json().id as string;
    await drain();
    const other = await ctx.tenant();
    const otherBase = await createBase(other.auth);
    const file = multipart(Buffer.from('B tries to write into A'), { filename: 'b.txt' });
    const routes: Array<[string, string, object | Buffer | undefined, Record<string, string>?]> = [
      ['GET', `/v1/knowledge-bases/${base.id}`, undefined],
      ['PATCH', `/v1/knowledge-bases/${base.id}`, { name: 'taken' }],
      ['DELETE', `/v1/knowledge-bases/${base.id}`, undefined],
      ['POST', `/v1/knowledge-bases/${base.id}/reindex`, undefined],
      ['GET', `/v1/knowledge-bases/${base.id}/documents`, undefined],
      ['POST', `/v1/knowledge-bases/${base.id}/documents`, file.payload, file.headers],
      ['GET', `/v1/knowledge-bases/${base.id}/documents/${docId}`, undefined],
      ['DELETE', `/v1/knowledge-bases/${base.id}/documents/${docId}`, undefined],
      ['POST', `/v1/knowledge-bases/${base.id}/documents/${docId}/reindex`, undefined],
      // B's own base with A's document id.
      ['GET', `/v1/knowledge-bases/${otherBase.id}/documents/${docId}`, undefined],
      ['DELETE', `/v1/knowledge-bases/${otherBase.id}/documents/${docId}`, undefined],
    ];
    for (const [method, url, payload, headers] of routes) {
      const res = await ctx.app.inject({ method: method as 'GET', url, headers: { ...other.auth, ...headers }, payload: payload as never });
      expectProblem(res, 404, 'not_found');
    }
    expect((await getDocument(tenant.auth, base.id, docId)).status).toBe('ready');
    const list = await ctx.app.inject({ method: 'GET', url: '/v1/knowledge-bases', headers: other.auth });
    expect(list.body).not.toContain(base.id);
  });

  it('members read, managers write, viewers neither', async () => {
    const base = await createBase(tenant.auth);
    const member = await ctx.user(tenant, 'member');
    const viewer = await ctx.user(tenant, 'viewer');
    expect((await ctx.app.inject({ method: 'GET', url: `/v1/knowledge-bases/${base.id}`, headers: member.auth })).statusCode).toBe(200);
    expectProblem(await upload(member.auth, base.id, Buffer.from('x'), 'x.txt'), 403, 'forbidden');
    expectProblem(await ctx.app.inject({ method: 'GET', url: '/v1/knowledge-bases', headers: viewer.auth }), 403, 'forbidden');
  });
});
