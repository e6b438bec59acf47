import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chunkDocument } from './chunker.ts';
import { parseMarkdown } from './parsers/text.ts';

describe('chunkDocument', () => {
  it('cuts at headings, carries the heading path and overlaps consecutive chunks', () => {
    const body = Array.from({ length: 12 }, (_, i) => `Sentence number ${i} talks about invoices and payments.`).join(' ');
    const parsed = parseMarkdown(`Intro line.\n\n# Billing\n\n${body}\n\n## Refunds\n\nRefunds within 30 days.\n\n# Other\n\nLast.`);
    const chunks = chunkDocument(parsed, { size: 200, overlap: 50 });
    expect(chunks[0]).toMatchObject({ heading: '', content: 'Intro line.' });
    expect(chunks.at(-1)).toMatchObject({ heading: 'Other', content: 'Last.' });
    expect(chunks.find((c) => c.content.startsWith('Refunds'))?.heading).toBe('Billing > Refunds');
    const billing = chunks.filter((c) => c.heading === 'Billing');
    expect(billing.length).toBeGreaterThan(2);
    for (let i = 1; i < billing.length; i++) expect(billing[i]!.start).toBeLessThan(billing[i - 1]!.end);
    for (const c of chunks) expect(parsed.text.slice(c.start, c.end)).toBe(c.content);
  });

  it('property: chunks are slices of the text, within the size, in order, and cover every word', () => {
    const word = fc.stringMatching(/^[a-z]{1,12}$/);
    const line = fc.array(word, { minLength: 1, maxLength: 40 }).map((w) => w.join(' '));
    const block = fc.oneof(
      line,
      line.map((l) => `# ${l}`),
      line.map((l) => `## ${l}`),
      line.map((l) => `${l}.`),
    );
    const doc = fc
      .array(block, { minLength: 1, maxLength: 30 })
      .chain((blocks) => fc.constantFrom('\n', '\n\n').map((sep) => blocks.join(sep)));
    fc.assert(
      fc.property(doc, fc.integer({ min: 20, max: 400 }), fc.integer({ min: 0, max: 200 }), (source, size, overlap) => {
        const parsed = parseMarkdown(source);
        const chunks = chunkDocument(parsed, { size, overlap });
        const covered = new Uint8Array(parsed.text.length);
        let previousStart = -1;
        for (const c of chunks) {
          expect(parsed.text.slice(c.start, c.end)).toBe(c.content);
          expect(c.content.length).toBeLessThanOrEqual(size);
          expect(c.content.trim()).toBe(c.content);
          expect(c.start).toBeGreaterThan(previousStart);
          previousStart = c.start;
          covered.fill(1, c.start, c.end);
        }
        const headingLines = new Set(parsed.headings.flatMap((h) => Array.from({ length: h.end - h.start }, (_, i) => h.start + i)));
        for (let i = 0; i < parsed.text.length; i++) {
          if (!/\s/.test(parsed.text[i] as string) && !headingLines.has(i)) expect(covered[i], `offset ${i}`).toBe(1);
        }
      }),
      { numRuns: 200 },
    );
  });
});
