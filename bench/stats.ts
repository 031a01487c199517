// Small statistics for benchmark samples (milliseconds).

export interface Summary {
  n: number;
  median: number;
  min: number;
  max: number;
}

export function summarize(samples: number[]): Summary {
  const s = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { n: s.length, median: Math.round(median), min: Math.round(s[0]!), max: Math.round(s[s.length - 1]!) };
}

/** The p-th percentile (0–100) of the samples, nearest rank. */
export function percentile(samples: number[], p: number): number {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** A markdown table row of a summary: | what | median | min | max | */
export const mdRow = (what: string, s: Summary) => `| ${what} | ${s.median} | ${s.min} | ${s.max} |`;
/** The header that goes with mdRow. */
export const MD_HEADER = ['| what | median | min | max |', '| --- | --- | --- | --- |'];
/** a / b with two decimals. */
export const ratio = (a: number, b: number) => (a / b).toFixed(2);
