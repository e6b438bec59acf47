/** Real documents of every accepted type, built in the test, and hostile ones; a deterministic embedder. */
import { createHash } from 'node:crypto';
import { Document, HeadingLevel, Packer, Paragraph } from 'docx';
import { strToU8, zipSync } from 'fflate';
import PDFDocument from 'pdfkit';
import type { Embedder } from '../../src/modules/ai/index.ts';

export async function makePdf(pages: string[]): Promise<Buffer> {
  const doc = new PDFDocument({ compress: true });
  const parts: Buffer[] = [];
  doc.on('data', (b: Buffer) => parts.push(b));
  pages.forEach((text, i) => {
    if (i > 0) doc.addPage();
    doc.text(text);
  });
  const done = new Promise((resolve) => doc.on('end', resolve));
  doc.end();
  await done;
  return Buffer.concat(parts);
}

/** A Word document: [heading level, text] pairs (0 = paragraph). */
export async function makeDocx(blocks: Array<[0 | 1 | 2 | 3, string]>): Promise<Buffer> {
  const levels = { 1: HeadingLevel.HEADING_1, 2: HeadingLevel.HEADING_2, 3: HeadingLevel.HEADING_3 } as const;
  const children = blocks.map(([level, text]) => (level === 0 ? new Paragraph(text) : new Paragraph({ text, heading: levels[level] })));
  return Packer.toBuffer(new Document({ sections: [{ children }] }));
}

/** A DOCX-shaped zip whose body expands ~1000× (declared ratio far past the limit). */
export function makeZipBombDocx(megabytes = 40): Buffer {
  const body = new Uint8Array(megabytes * 1024 * 1024).fill(0x61);
  return Buffer.from(
    zipSync({
      '[Content_Types].xml': strToU8('<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'),
      'word/document.xml': [body, { level: 9 }],
    }),
  );
}

/** A DOCX-shaped zip with far too many entries. */
export function makeManyEntriesDocx(entries = 5000): Buffer {
  const files: Record<string, Uint8Array> = {
    '[Content_Types].xml': strToU8('<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'),
    'word/document.xml': strToU8('<w:document/>'),
  };
  for (let i = 0; i < entries; i++) files[`word/media/x${i}.txt`] = strToU8('x');
  return Buffer.from(zipSync(files, { level: 0 }));
}

/** A Windows executable's first bytes (MZ header with a PE signature). */
export function makeExe(): Buffer {
  const bytes = Buffer.alloc(1024);
  bytes.write('MZ', 0, 'latin1');
  bytes.writeUInt32LE(0x80, 0x3c);
  bytes.write('PE\0\0', 0x80, 'latin1');
  return bytes;
}

/** A multipart/form-data body with one file part and optional fields. */
export function multipart(
  file: Buffer,
  options: { filename?: string; contentType?: string; field?: string; fields?: Record<string, string> } = {},
) {
  const boundary = `----palazzo-knowledge-${Math.random().toString(16).slice(2)}`;
  const fields = Object.entries(options.fields ?? {}).map(
    ([name, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`,
  );
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="${options.field ?? 'file'}"; filename="${options.filename ?? 'upload'}"\r\nContent-Type: ${options.contentType ?? 'application/octet-stream'}\r\n\r\n`;
  const payload = Buffer.concat([Buffer.from(fields.join('')), Buffer.from(head), file, Buffer.from(`\r\n--${boundary}--\r\n`)]);
  return { payload, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

/** Deterministic 8-dimension vectors from a hash of the text; `fail` makes the next calls throw like a provider outage. */
export function createFakeEmbedder() {
  const state = { calls: 0, texts: 0, fail: false, enabled: true };
  const embedder: Embedder = {
    async embed(_tenantId, texts) {
      state.calls += 1;
      if (!state.enabled) return null;
      if (state.fail) throw Object.assign(new Error('provider down'), { name: 'AI_APICallError' });
      state.texts += texts.length;
      const vectors = texts.map((text) => {
        const digest = createHash('sha256').update(text).digest();
        return Array.from({ length: 8 }, (_, i) => (digest[i] as number) / 255 - 0.5);
      });
      return { vectors, model: 'fake-embed-8', dimensions: 8, tokens: texts.length };
    },
  };
  return { embedder, state };
}
