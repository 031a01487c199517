// Plain-text tables in Docker's style: upper-case headers, columns padded by three spaces.

/** Renders rows under headers; every cell is text. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('   ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

/** "3 seconds ago", as docker prints times. */
export function ago(date: Date | undefined, now = Date.now()): string {
  if (!date) return '';
  const s = Math.max(0, Math.round((now - date.getTime()) / 1000));
  if (s < 1) return 'less than a second ago';
  if (s < 60) return `${s} second${s === 1 ? '' : 's'} ago`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} minute${m === 1 ? '' : 's'} ago`;
  const h = Math.round(m / 60);
  return `${h} hour${h === 1 ? '' : 's'} ago`;
}
