/**
 * Plain-text table output for `npm run bench`: aligned columns, numbers right-aligned.
 */

export type Align = 'l' | 'r';

export function renderTable(headers: string[], rows: string[][], align: Align[]): string[] {
  const widths = headers.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const cell = (s: string, c: number) => (align[c] === 'r' ? s.padStart(widths[c]!) : s.padEnd(widths[c]!));
  const line = (r: string[]) => r.map((s, c) => cell(s ?? '', c)).join('  ').trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}

/** Milliseconds with a precision that suits the size. */
export function ms(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  if (a < 10) return v.toFixed(2);
  if (a < 100) return v.toFixed(1);
  return v.toFixed(0);
}

export function signedMs(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  return (v >= 0 ? '+' : '') + ms(v);
}

export function rate(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  return v >= 100 ? v.toFixed(0) : v.toFixed(1);
}

export function ratio(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  return `${v >= 10 ? v.toFixed(0) : v.toFixed(1)}×`;
}
