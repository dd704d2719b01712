// bench_croner.mjs - croner's nanoseconds per nextRun(), the baseline for
// bench_next.c: the same expressions (EXPRS_FILE), zones, chain of CHAIN
// calls from 2026-01-01 00:00 UTC, and call count.  Prints the same
// "zone<TAB>expr<TAB>ns<TAB>end" lines.  No asserted times: a benchmark.
//
// Usage: node bench_croner.mjs EXPRS_FILE [CALLS]
import { readFileSync } from "node:fs";
import { Cron } from "croner";

const CHAIN = 100;
const REPEAT = 3;
const START = Date.UTC(2026, 0, 1);
const ZONES = ["UTC", "Europe/Berlin"];

function run(job, n) {
  let t = new Date(START);
  let end = null;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    if (i % CHAIN === 0) {
      if (i) end = t;
      t = new Date(START);
    }
    t = job.nextRun(t) ?? new Date(START);
  }
  if (n <= CHAIN) end = t;
  const ns = Number(process.hrtime.bigint() - t0) / n;
  return { ns, end: Math.floor(end.getTime() / 1000) };
}

const [file, calls] = process.argv.slice(2);
const n = Number(calls ?? 200000);
const exprs = readFileSync(file, "utf8").split("\n").filter((l) => l && !l.startsWith("#"));
for (const zone of ZONES) {
  for (const expr of exprs) {
    let job;
    try {
      // For UTC, utcOffset spares croner its Intl time-zone path: the
      // fastest way croner has, so the ratio is not inflated.
      const where = zone === "UTC" ? { utcOffset: 0 } : { timezone: zone };
      job = new Cron(expr, { ...where, paused: true, mode: "5-or-6-parts" });
    } catch (err) {
      console.log(`${zone}\t${expr}\tunsupported\t-`);
      continue;
    }
    run(job, Math.max(1, Math.floor(n / 10))); // warm up the JIT
    // The best of REPEAT runs, as bench_next.c does.
    let r = run(job, n);
    for (let i = 1; i < REPEAT; i++) {
      const again = run(job, n);
      if (again.ns < r.ns) r = again;
    }
    console.log(`${zone}\t${expr}\t${r.ns.toFixed(1)}\t${r.end}`);
  }
}
