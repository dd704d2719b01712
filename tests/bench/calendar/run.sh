#!/bin/sh
# run.sh - loopd's cal_next() against croner on the same expressions, zones
# and series (exprs.txt; a chain of 100 calls from 2026-01-01 00:00 UTC,
# started over).  Prints ns per call, the ratio croner/loopd, and whether
# both ended their chain on the same time ("same"; croner differs from
# Vixie cron's rules in places, so "differs" is information, not a failure).
#
# Usage: tests/bench/calendar/run.sh [LOOPD_CALLS [CRONER_CALLS]]
# Needs a C compiler, node and npm (croner is installed here from
# package.json on first run; node_modules is not committed).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
loopd_calls=${1:-200000}
croner_calls=${2:-3000}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -I"$root/daemon" \
	"$root/daemon/calendar.c" "$root/daemon/tzfile.c" \
	"$here/bench_next.c" -o "$out/bench_next"
if [ ! -d "$here/node_modules/croner" ]; then
	(cd "$here" && npm ci --no-audit --no-fund --silent)
fi

"$out/bench_next" "$here/exprs.txt" "$loopd_calls" >"$out/loopd.tsv"
node "$here/bench_croner.mjs" "$here/exprs.txt" "$croner_calls" >"$out/croner.tsv"

awk -F '\t' '
	NR == FNR { ns[$1 FS $2] = $3; end[$1 FS $2] = $4; next }
	FNR == 1 {
		printf "%-14s %-36s %10s %12s %9s  %s\n", "zone", "expression",
		       "loopd ns", "croner ns", "ratio", "series end"
	}
	{
		k = $1 FS $2
		ratio = ($3 + 0 > 0 && ns[k] > 0) ? sprintf("%.0fx", $3 / ns[k]) : "-"
		same = ($4 == end[k]) ? "same" : "differs"
		printf "%-14s %-36s %10.1f %12s %9s  %s\n", $1, $2, ns[k], $3,
		       ratio, same
	}' "$out/loopd.tsv" "$out/croner.tsv"
