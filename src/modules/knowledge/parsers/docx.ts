import { unzipSync } from 'fflate';
import mammoth from 'mammoth';
import { parseHtml } from './html.ts';
import { type ParseLimits, type Parsed, ParseFailure } from './types.ts';

/**
 * Refuses a zip before anything is decompressed (T43): too many entries, too many declared bytes,
 * an entry whose declared ratio is a bomb's, traversal or absolute names, or no Word body. Only
 * the central directory is read (the filter declines every entry). Sizes that lie are caught by
 * the worker's memory limit, which stops extraction whatever the headers say.
 */
export function assertSafeZip(bytes: Uint8Array, limits: ParseLimits): void {
  let entries = 0;
  let declared = 0;
  let problem: { code: 'archive_bomb' | 'corrupt_file'; reason: string } | undefined;
  let hasBody = false;
  try {
    unzipSync(bytes, {
      filter(file) {
        entries += 1;
        declared += file.originalSize;
        if (file.name === 'word/document.xml') hasBody = true;
        if (!problem && (file.name.includes('..') || file.name.startsWith('/') || file.name.includes('\\'))) {
          problem = { code: 'corrupt_file', reason: `the archive has an entry with an unsafe name (${file.name.slice(0, 80)})` };
        }
        const ratio = file.size > 0 ? file.originalSize / file.size : file.originalSize > 0 ? Number.POSITIVE_INFINITY : 0;
        if (!problem && file.originalSize > 1024 * 1024 && ratio > limits.maxCompressionRatio) {
          problem = {
            code: 'archive_bomb',
            reason: `an entry expands ${Math.round(ratio)}× (at most ${limits.maxCompressionRatio}× is accepted)`,
          };
        }
        return false;
      },
    });
  } catch (error) {
    throw new ParseFailure('corrupt_file', `the DOCX is not a readable zip archive: ${(error as Error).message.slice(0, 200)}`);
  }
  if (entries > limits.maxZipEntries) {
    throw new ParseFailure('archive_bomb', `the archive has ${entries} entries; at most ${limits.maxZipEntries} are accepted`);
  }
  if (declared > limits.maxUncompressedBytes) {
    throw new ParseFailure(
      'archive_bomb',
      `the archive declares ${declared} bytes uncompressed; at most ${limits.maxUncompressedBytes} are accepted`,
    );
  }
  if (problem) throw new ParseFailure(problem.code, problem.reason);
  if (!hasBody) throw new ParseFailure('corrupt_file', 'the archive has no word/document.xml: it is not a Word document');
}

/** DOCX through mammoth to HTML (headings become h1–h6), then the HTML extractor; images are dropped. */
export async function parseDocx(bytes: Uint8Array, limits: ParseLimits): Promise<Parsed> {
  assertSafeZip(bytes, limits);
  let html: string;
  try {
    const result = await mammoth.convertToHtml(
      { buffer: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) },
      { externalFileAccess: false, convertImage: mammoth.images.imgElement(async () => ({ src: '' })) },
    );
    html = result.value;
  } catch (error) {
    throw new ParseFailure('corrupt_file', `the DOCX could not be read: ${(error as Error).message.slice(0, 200)}`);
  }
  return parseHtml(html);
}
