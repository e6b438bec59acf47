/**
 * A small lexical similarity model for texts in English and Italian, used when no embedding
 * provider is configured: TF-IDF weighted features (words, and character trigrams of each word so
 * that inflections such as "prezzo"/"prezzi" or "refund"/"refunds" still overlap), compared by cosine.
 */

/** Lower case, accents folded, letters and digits only. */
export function normalize(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

export function words(text: string): string[] {
  const n = normalize(text);
  return n ? n.split(' ') : [];
}

/** Word features plus the character trigrams of each word padded with boundaries. */
export function features(text: string): Map<string, number> {
  const out = new Map<string, number>();
  const add = (f: string, w: number) => out.set(f, (out.get(f) ?? 0) + w);
  for (const word of words(text)) {
    add(`w:${word}`, 1);
    const padded = `^${word}$`;
    for (let i = 0; i + 3 <= padded.length; i++) add(`c:${padded.slice(i, i + 3)}`, 0.5);
  }
  return out;
}

export type Vector = Map<string, number>;

export function cosine(a: Vector, b: Vector): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (const [k, v] of a) {
    na += v * v;
    const w = b.get(k);
    if (w !== undefined) dot += v * w;
  }
  for (const v of b.values()) nb += v * v;
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

export function denseCosine(a: number[], b: number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    dot += (a[i] as number) * (b[i] as number);
    na += (a[i] as number) ** 2;
    nb += (b[i] as number) ** 2;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

/** TF-IDF over a corpus of documents (here: the examples of every intent). */
export function createTfIdf(corpus: string[]) {
  const df = new Map<string, number>();
  const raw = corpus.map(features);
  for (const doc of raw) for (const f of doc.keys()) df.set(f, (df.get(f) ?? 0) + 1);
  const n = corpus.length;
  const idf = (f: string) => Math.log((1 + n) / (1 + (df.get(f) ?? 0))) + 1;
  const weigh = (tf: Map<string, number>): Vector => {
    const v: Vector = new Map();
    for (const [f, count] of tf) v.set(f, (1 + Math.log(count)) * idf(f));
    return v;
  };
  const vectors = raw.map(weigh);
  return {
    vectors,
    vectorize: (text: string) => weigh(features(text)),
  };
}
