// Slicing: sliceText() with "grapheme", "word" and "sentence" chunking over a 1M and a 10M
// UTF-16-unit mixed-script text (ASCII, accents, Greek, Cyrillic, CJK, Hangul, emoji with ZWJ
// sequences), versus the lower bound: iterating `Intl.Segmenter` of the same granularity
// alone (reading each segment). Ratios are paired per round; the 10M ÷ 1M time ratio shows
// linearity.
//
// Targets (issue 7): within 1.5× of bare Intl.Segmenter iteration; 10M/1M time ratio ≤ 11.
// The word and sentence targets are what src/_grapheme_fast.ts is kept for: without it they
// measured 1.9–2.0× and 1.4–1.9× (bench/NOTES.md, 3).
import { sliceText } from "../mod.ts";
import {
  type Candidate,
  createReport,
  measure,
  ms,
  pairedRatios,
  printReport,
  progress,
  QUICK,
  range,
  ratio,
  summarize,
} from "./_common.ts";
import { mixedText } from "./_data.ts";

type Granularity = "grapheme" | "word" | "sentence";
const GRANULARITIES: Granularity[] = ["grapheme", "word", "sentence"];
const [SMALL, LARGE] = QUICK ? [200_000, 2_000_000] : [1_000_000, 10_000_000];
const label = (n: number) => `${n / 1e6}M`;

const report = createReport(
  "slicing",
  "3. Slicing",
  `sliceText() on ${label(SMALL)} and ${label(LARGE)} UTF-16 units of mixed-script text vs ` +
    "iterating Intl.Segmenter alone (same granularity); 10×-size time ratio for linearity.",
);

const texts = new Map([[SMALL, mixedText(SMALL)], [LARGE, mixedText(LARGE)]]);
const medians = new Map<string, number>();

for (const [size, text] of texts) {
  for (const g of GRANULARITIES) {
    const segmenter = new Intl.Segmenter(undefined, { granularity: g });
    const list: Candidate<number>[] = [
      {
        name: "Intl.Segmenter",
        run: () => {
          let n = 0;
          for (const s of segmenter.segment(text)) n += s.segment.length;
          return n;
        },
      },
      {
        name: "sliceText()",
        run: () => {
          let n = 0;
          for (const chunk of sliceText(text, { chunking: g })) {
            n += chunk.length;
          }
          return n;
        },
      },
    ];
    const [warmup, rounds] = size === SMALL ? [1, QUICK ? 3 : 7] : [QUICK ? 0 : 1, 3];
    progress(`${g} ${label(size)}: ${warmup}+${rounds} rounds`);
    const times = await measure(list, {
      warmup,
      rounds,
      verify: (name, n) => {
        if (n !== text.length) {
          throw new Error(`${name} covered ${n} of ${text.length} units`);
        }
      },
    });
    if (size === SMALL) {
      // Exactness, once per granularity (outside timing): the chunks rebuild the text.
      if ([...sliceText(text, { chunking: g })].join("") !== text) {
        throw new Error(`sliceText(${g}) does not rebuild the text`);
      }
    }
    const seg = times.get("Intl.Segmenter")!;
    const sl = times.get("sliceText()")!;
    const s = summarize(sl);
    const b = summarize(seg);
    const r = summarize(pairedRatios(sl, seg));
    medians.set(`${g} ${size} seg`, b.median);
    medians.set(`${g} ${size} slice`, s.median);
    report.tables.push({
      id: `${g}`,
      title: `${g}`,
      columns: [
        "text",
        "Intl.Segmenter",
        "min–max ms",
        "sliceText()",
        "min–max ms",
        "÷ Segmenter",
      ],
      rows: [[
        label(size),
        ms(b.median),
        range(b),
        ms(s.median),
        range(s),
        ratio(r),
      ]],
    });
    report.targets.push({
      id: `${g}-${size === SMALL ? "small" : "large"}`,
      name: `sliceText(${g}) ≤ 1.5× Intl.Segmenter (${label(size)})`,
      measured: `${r.median.toFixed(2)}×`,
      pass: r.median <= 1.5,
    });
  }
}

// Merge the per-size tables of each granularity, then add the linearity rows.
const merged = new Map<string, (typeof report.tables)[number]>();
for (const t of report.tables) {
  const m = merged.get(t.id);
  if (m) m.rows.push(...t.rows);
  else merged.set(t.id, t);
}
report.tables = [...merged.values()];
const linearity: string[][] = [];
for (const g of GRANULARITIES) {
  const sl = medians.get(`${g} ${LARGE} slice`)! /
    medians.get(`${g} ${SMALL} slice`)!;
  const seg = medians.get(`${g} ${LARGE} seg`)! /
    medians.get(`${g} ${SMALL} seg`)!;
  linearity.push([g, `${sl.toFixed(1)}`, `${seg.toFixed(1)}`]);
  report.targets.push({
    id: `${g}-linear`,
    name: `sliceText(${g}) ${label(LARGE)}/${label(SMALL)} time ratio ≤ 11`,
    measured: sl.toFixed(1),
    pass: sl <= 11,
  });
}
report.tables.push({
  id: "linearity",
  title: `Linearity: median time ${label(LARGE)} ÷ ${label(SMALL)} (10 = linear)`,
  columns: ["granularity", "sliceText()", "Intl.Segmenter"],
  rows: linearity,
});
// Keep the targets grouped: per-size ratios first, linearity last.
report.targets.sort((x, y) => Number(x.id.endsWith("linear")) - Number(y.id.endsWith("linear")));

printReport(report);
