// A grouped horizontal bar chart drawn on the server as SVG: no client JavaScript, no inline `style` attributes
// (colours are Tailwind classes), so it renders under the strict CSP and prints as is. The SVG is an image with a
// title and a description that states every value; each bar also carries its own <title>. A table with the same
// numbers sits beside every chart (see app/(app)/reports/page.tsx).

export interface BarSeries {
  key: string;
  label: string;
  /** A Tailwind fill class, e.g. "fill-emerald-600", and the matching swatch class for the legend. */
  fill: string;
  swatch: string;
}

export interface BarChartProps {
  id: string;
  title: string;
  categories: { label: string; values: Record<string, number> }[];
  series: BarSeries[];
  unit?: string;
}

const W = 640;
const LABEL_W = 180;
const BAR_H = 12;
const GAP = 10;

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}

export function BarChart({ id, title, categories, series, unit = "" }: BarChartProps) {
  const max = Math.max(1, ...categories.flatMap((c) => series.map((s) => c.values[s.key] ?? 0)));
  const groupH = series.length * BAR_H + GAP;
  const height = Math.max(groupH, categories.length * groupH) + 4;
  const plotW = W - LABEL_W - 60;
  const desc =
    categories.length === 0
      ? "No data in this period."
      : categories.map((c) => `${c.label}: ${series.map((s) => `${s.label} ${fmt(c.values[s.key] ?? 0)}${unit}`).join(", ")}`).join("; ");
  return (
    <figure className="min-w-0 flex-1" data-testid={`chart-${id}`}>
      <svg viewBox={`0 0 ${W} ${height}`} className="h-auto w-full" role="img" aria-labelledby={`${id}-title ${id}-desc`}>
        <title id={`${id}-title`}>{title}</title>
        <desc id={`${id}-desc`}>{desc}</desc>
        {categories.map((c, ci) => {
          const y0 = ci * groupH;
          return (
            <g key={c.label}>
              <text x={LABEL_W - 6} y={y0 + (series.length * BAR_H) / 2 + 4} textAnchor="end" className="fill-slate-700 text-[11px]">
                {c.label.length > 28 ? `${c.label.slice(0, 27)}…` : c.label}
              </text>
              {series.map((s, si) => {
                const v = c.values[s.key] ?? 0;
                const w = v > 0 ? Math.max(1, (v / max) * plotW) : 0;
                const y = y0 + si * BAR_H;
                return (
                  <g key={s.key}>
                    <rect x={LABEL_W} y={y} width={w} height={BAR_H - 2} className={s.fill}>
                      <title>{`${c.label} — ${s.label}: ${fmt(v)}${unit}`}</title>
                    </rect>
                    <text x={LABEL_W + w + 4} y={y + BAR_H - 3} className="fill-slate-500 text-[10px]">
                      {fmt(v)}
                    </text>
                  </g>
                );
              })}
            </g>
          );
        })}
        {categories.length === 0 && (
          <text x={8} y={16} className="fill-slate-500 text-[12px]">
            No data in this period.
          </text>
        )}
      </svg>
      <figcaption className="mt-1 flex flex-wrap gap-3 text-xs text-slate-600" aria-hidden="true">
        {series.map((s) => (
          <span key={s.key} className="inline-flex items-center gap-1">
            <span className={`inline-block h-2.5 w-2.5 rounded-sm ${s.swatch}`} />
            {s.label}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}
