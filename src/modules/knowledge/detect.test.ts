import { describe, expect, it } from 'vitest';
import { AppError } from '../../platform/errors.ts';
import { cleanFilename, detectMediaType } from './detect.ts';
import { parseDocument } from './parsers/index.ts';
import { DEFAULT_PARSE_LIMITS, ParseFailure } from './parsers/types.ts';

const text = (s: string) => Buffer.from(s);

async function refusal(bytes: Buffer, name: string): Promise<string> {
  try {
    await detectMediaType(bytes, name);
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('unsupported_media_type');
    return (error as AppError).detail ?? '';
  }
  throw new Error(`${name} was accepted`);
}

describe('detectMediaType (T42)', () => {
  it('reads text kinds from the content and the name', async () => {
    expect(await detectMediaType(text('hello'), 'a.txt')).toBe('text/plain');
    expect(await detectMediaType(text('# Title\n\nbody'), 'notes')).toBe('text/markdown');
    expect(await detectMediaType(text('plain'), 'notes.md')).toBe('text/markdown');
    expect(await detectMediaType(text('<!-- c -->\n<!DOCTYPE html><p>x'), 'page.txt')).toBe('text/html');
    expect(await detectMediaType(text('a,b\n1,2'), 'data.csv')).toBe('text/csv');
    expect(await detectMediaType(text('\uFEFF<html><body>x</body></html>'), 'x')).toBe('text/html');
  });

  it('refuses binary types, renamed text and non-UTF-8 content with a clear detail', async () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
    expect(await refusal(png, 'photo.pdf')).toMatch(/image\/png/);
    expect(await refusal(text('<svg onload="alert(1)"></svg>'), 'logo.pdf')).toMatch(/named \.pdf/);
    expect(await refusal(text('plain'), 'report.docx')).toMatch(/named \.docx/);
    expect(await refusal(Buffer.from([0xc3, 0x28, 0x41]), 'bad.txt')).toMatch(/binary/);
    expect(await refusal(Buffer.from('a\u0000b'), 'nul.txt')).toMatch(/binary/);
  });
});

describe('cleanFilename', () => {
  it('keeps a display name only: no path, no control characters, bounded', () => {
    expect(cleanFilename('../../etc/passwd')).toBe('passwd');
    expect(cleanFilename('..\\..\\win.ini')).toBe('win.ini');
    expect(cleanFilename('%2e%2e%2fsecret.txt')).toBe('%2e%2e%2fsecret.txt');
    expect(cleanFilename('a\u0000.pdf')).toBe('a.pdf');
    expect(cleanFilename('"x"\r\nSet-Cookie: a=b.pdf')).toBe('"x"Set-Cookie: a=b.pdf');
    expect(cleanFilename('.htaccess')).toBe('htaccess');
    expect(cleanFilename('x'.repeat(300))).toHaveLength(255);
    expect(cleanFilename(undefined)).toBe('upload');
    expect(cleanFilename('///')).toBe('upload');
  });
});

describe('parseDocument limits', () => {
  it('refuses text beyond the character limit and documents with no text', async () => {
    const limits = { ...DEFAULT_PARSE_LIMITS, maxTextChars: 10 };
    await expect(parseDocument(text('more than ten characters'), 'text/plain', limits)).rejects.toMatchObject({ code: 'too_much_text' });
    await expect(parseDocument(text('  \n\n  '), 'text/plain', DEFAULT_PARSE_LIMITS)).rejects.toBeInstanceOf(ParseFailure);
    await expect(parseDocument(text('<html><script>only()</script></html>'), 'text/html', DEFAULT_PARSE_LIMITS)).rejects.toMatchObject({
      code: 'empty_document',
    });
  });
});
