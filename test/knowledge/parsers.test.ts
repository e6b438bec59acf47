/** The parsers on real files built here, called directly (the API tests go through the worker). */
import { describe, expect, it } from 'vitest';
import { DEFAULT_PARSE_LIMITS, parseDocument } from '../../src/modules/knowledge/index.ts';
import { makeDocx, makeManyEntriesDocx, makePdf, makeZipBombDocx } from './support.ts';

const DOCX = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document' as const;

describe('parsers', () => {
  it('PDF: text page after page; too many pages is refused before reading them', async () => {
    const pdf = await makePdf(['First page.', 'Second page.', 'Third page.']);
    const parsed = await parseDocument(pdf, 'application/pdf', DEFAULT_PARSE_LIMITS);
    expect(parsed.text).toBe('First page.\n\nSecond page.\n\nThird page.');
    await expect(parseDocument(pdf, 'application/pdf', { ...DEFAULT_PARSE_LIMITS, maxPages: 2 })).rejects.toMatchObject({
      code: 'too_many_pages',
    });
  });

  it('DOCX: headings and paragraphs through mammoth; bombs refused from the central directory alone', async () => {
    const docx = await makeDocx([
      [1, 'Rooms'],
      [0, 'Every room has a view.'],
      [2, 'Suites'],
      [0, 'Suites have a terrace.'],
    ]);
    const parsed = await parseDocument(docx, DOCX, DEFAULT_PARSE_LIMITS);
    expect(parsed.text).toBe('Rooms\n\nEvery room has a view.\n\nSuites\n\nSuites have a terrace.');
    expect(parsed.headings.map((h) => [h.level, h.title, parsed.text.slice(h.start, h.end)])).toEqual([
      [1, 'Rooms', 'Rooms'],
      [2, 'Suites', 'Suites'],
    ]);
    const started = Date.now();
    await expect(parseDocument(makeZipBombDocx(20), DOCX, DEFAULT_PARSE_LIMITS)).rejects.toMatchObject({ code: 'archive_bomb' });
    await expect(parseDocument(makeManyEntriesDocx(2500), DOCX, DEFAULT_PARSE_LIMITS)).rejects.toMatchObject({ code: 'archive_bomb' });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('CSV: rows named by their headers, ; and tab delimiters too', async () => {
    const csv = await parseDocument(Buffer.from('name;city\nAda;Turin\n"Bob, Jr.";Rome\n'), 'text/csv', DEFAULT_PARSE_LIMITS);
    expect(csv.text).toBe('name: Ada; city: Turin\nname: Bob, Jr.; city: Rome');
  });

  it('Markdown: headings outside fenced code only', async () => {
    const md = await parseDocument(Buffer.from('# A\n\n```\n# not a heading\n```\n\n## B\ntext'), 'text/markdown', DEFAULT_PARSE_LIMITS);
    expect(md.headings.map((h) => h.title)).toEqual(['A', 'B']);
  });
});
