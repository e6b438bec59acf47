/** What a parser gives back: the document's text and where its headings are in it. */

/** A heading of the extracted text: its level (1 = top) and the [start, end) of its line. */
export type Heading = { level: number; title: string; start: number; end: number };

export type Parsed = { text: string; headings: Heading[] };

/** The media types ingestion accepts, detected from the content (detect.ts). */
export const MEDIA_TYPES = [
  'text/plain',
  'text/markdown',
  'text/html',
  'text/csv',
  'application/pdf',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
] as const;
export type MediaType = (typeof MEDIA_TYPES)[number];
export const DOCX = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document' as const;

/** Stable failure codes of a document (knowledge_documents.failure_code); docs/knowledge.md lists them. */
export type FailureCode =
  | 'corrupt_file'
  | 'empty_document'
  | 'too_many_pages'
  | 'archive_bomb'
  | 'too_complex'
  | 'parse_timeout'
  | 'too_much_text'
  | 'ingestion_failed';

/** A document that cannot be parsed: a deterministic verdict, never retried. */
export class ParseFailure extends Error {
  constructor(
    readonly code: FailureCode,
    readonly reason: string,
  ) {
    super(reason);
    this.name = 'ParseFailure';
  }
}

/** Limits a parser applies to the content itself (the worker adds time and memory limits around it). */
export type ParseLimits = {
  maxPages: number;
  /** DOCX: entries of the zip, total declared uncompressed bytes, and the largest declared ratio. */
  maxZipEntries: number;
  maxUncompressedBytes: number;
  maxCompressionRatio: number;
  /** Characters of extracted text. */
  maxTextChars: number;
};

export const DEFAULT_PARSE_LIMITS: ParseLimits = {
  maxPages: 5000,
  maxZipEntries: 2000,
  maxUncompressedBytes: 200 * 1024 * 1024,
  maxCompressionRatio: 200,
  maxTextChars: 20_000_000,
};
