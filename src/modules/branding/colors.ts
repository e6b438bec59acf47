/**
 * Colours and their contrast, after WCAG 2.2: relative luminance (§ definitions) and contrast
 * ratio (L1 + 0.05) / (L2 + 0.05). Level AA asks 4.5:1 for body text (1.4.3) and 3:1 for user
 * interface components against what is next to them (1.4.11).
 */

export const HEX_COLOR = '^#(?:[0-9A-Fa-f]{3}|[0-9A-Fa-f]{6})$';

/** `#abc` → `#AABBCC`; `#a1b2c3` → `#A1B2C3`. */
export function normalizeHex(value: string): string {
  const hex = value.slice(1);
  const full = hex.length === 3 ? [...hex].map((c) => c + c).join('') : hex;
  return `#${full.toUpperCase()}`;
}

function channel(value: number): number {
  const c = value / 255;
  return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
}

export function relativeLuminance(hex: string): number {
  const full = normalizeHex(hex);
  const r = Number.parseInt(full.slice(1, 3), 16);
  const g = Number.parseInt(full.slice(3, 5), 16);
  const b = Number.parseInt(full.slice(5, 7), 16);
  return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
}

export function contrastRatio(a: string, b: string): number {
  const [light, dark] = [relativeLuminance(a), relativeLuminance(b)].sort((x, y) => y - x) as [number, number];
  return (light + 0.05) / (dark + 0.05);
}

export type Colors = { primary: string; onPrimary: string; background: string; text: string; secondary: string | null };

export const DEFAULT_COLORS: Colors = { primary: '#1F4E79', onPrimary: '#FFFFFF', background: '#FFFFFF', text: '#1A1A1A', secondary: null };

/** The pairs that are checked, with the WCAG AA minimum for each. */
export const CONTRAST_PAIRS = [
  { foreground: 'text', background: 'background', minimum: 4.5, criterion: 'WCAG 2.2 1.4.3 (text)' },
  { foreground: 'onPrimary', background: 'primary', minimum: 4.5, criterion: 'WCAG 2.2 1.4.3 (text on primary)' },
  { foreground: 'primary', background: 'background', minimum: 3, criterion: 'WCAG 2.2 1.4.11 (components)' },
] as const;

export type ContrastIssue = {
  foreground: keyof Colors;
  background: keyof Colors;
  ratio: number;
  minimum: number;
  criterion: string;
};

/** Pairs below their AA minimum. A warning for the caller, not a refusal: the tenant decides. */
export function contrastIssues(colors: Colors): ContrastIssue[] {
  const issues: ContrastIssue[] = [];
  for (const pair of CONTRAST_PAIRS) {
    const ratio = contrastRatio(colors[pair.foreground] as string, colors[pair.background] as string);
    // Compared at two decimals, as ratios are reported: 4.499 does not pass as 4.5.
    if (Math.floor(ratio * 100) / 100 < pair.minimum) {
      const { foreground, background, minimum, criterion } = pair;
      issues.push({ foreground, background, ratio: Math.floor(ratio * 100) / 100, minimum, criterion });
    }
  }
  return issues;
}
