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
