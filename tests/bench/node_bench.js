// node_bench.js - the loop benchmarks of the tracker issue, against Node.js.
//
// The peer of loop_bench.c and uv_bench.c: the same workloads, read from
// the same environment variables (LOOPD_BENCH, LOOPD_BENCH_PATTERN,
// LOOPD_BENCH_N), and the same result line with "node" as its first word.
// The measurement points are the same too: t0 just before the first timer,
// immediate or job is made, t1 after the last, the first and the last
// callback.  cpu_s is process.cpuUsage() (the whole process, so V8's GC and
// the threadpool are in it) from t0 to the last callback; rss_mb is the
// process peak (resourceUsage().maxRSS), base_mb that peak at t0, which is
// mostly V8 itself.
//
// Where Node has no exact equivalent:
// - zero timers: setTimeout clamps a delay below 1 ms to 1 ms, so "zero"
//   is 1 ms here (late_ms still subtracts 0).
// - pool: Node has no "run this no-op on the threadpool".  The closest
//   cheap request that goes through libuv's threadpool is fs.stat() of a
//   fixed path (uv_fs_stat, queued like uv_queue_work): one stat(2) on a
//   cached dentry is well under a microsecond, so what is measured is the
//   request machinery.  LOOPD_BENCH_NODE_JOB=pbkdf2 uses crypto.pbkdf2
//   with 1 iteration instead (also the threadpool, more JS around it).
'use strict';

const fs = require('fs');
const crypto = require('crypto');

const WORKLOADS = { timers: 1000000, immediates: 10000000, pool: 100000,
	pingpong: 100000 };
const PATTERNS = ['spread', 'shuffle', 'zero', 'same'];

const env = process.env;
const wl = env.LOOPD_BENCH || 'timers';
const pat = wl === 'timers' ? (env.LOOPD_BENCH_PATTERN || 'spread') : '-';
const nstr = env.LOOPD_BENCH_N || '';
const job = env.LOOPD_BENCH_NODE_JOB || 'stat';

function bad() {
	process.stderr.write(`node_bench: bad workload: LOOPD_BENCH=${wl} ` +
		`LOOPD_BENCH_PATTERN=${pat} LOOPD_BENCH_N=${nstr} ` +
		'(want timers|immediates|pool|pingpong, ' +
		'spread|shuffle|zero|same, a positive count)\n');
	process.exit(2);
}

if (!(wl in WORKLOADS) || (wl === 'timers' && !PATTERNS.includes(pat)))
	bad();
if (nstr !== '' && !/^[0-9]+$/.test(nstr))
	bad();
const n = nstr !== '' ? Number(nstr) : WORKLOADS[wl];
if (!(n > 0))
	bad();
if (job !== 'stat' && job !== 'pbkdf2') {
	process.stderr.write(`node_bench: LOOPD_BENCH_NODE_JOB=${job}: ` +
		'want stat or pbkdf2\n');
	process.exit(2);
}

const now = process.hrtime.bigint;
let t0 = 0n, t1 = 0n, tFirst = 0n;
let cpu0, baseKb;
let done = 0, errors = 0, maxTimeout = 0;

function secs(from, to) {
	return Number(to - from) / 1e9;
}

// The same line as loop_bench.c's, first word "node".
function report() {
	const tLast = now();
	const cpu = process.cpuUsage(cpu0);
	const rssKb = process.resourceUsage().maxRSS;
	let line = `node ${wl} ${pat} n=${n}` +
		` start_s=${secs(t0, t1).toFixed(4)}` +
		` run_s=${secs(t1, tLast).toFixed(4)}` +
		` wall_s=${secs(t0, tLast).toFixed(4)}` +
		` fire_s=${secs(tFirst, tLast).toFixed(4)}` +
		` cpu_s=${((cpu.user + cpu.system) / 1e6).toFixed(3)}` +
		` rss_mb=${(rssKb / 1024).toFixed(1)}` +
		` base_mb=${(baseKb / 1024).toFixed(1)}`;
	const span = Number(tLast - tFirst);
	if (wl === 'timers')
		line += ` late_ms=${(Number(tLast - t1) / 1e6 - maxTimeout).toFixed(2)}`;
	else if (wl === 'immediates')
		line += ` ns_per_turn=${(n > 1 ? span / (n - 1) : 0).toFixed(1)}`;
	else if (wl === 'pingpong')
		line += ` us_per_trip=${(n > 1 ? span / 1e3 / (n - 1) : 0).toFixed(3)}`;
	line += ` errors=${errors}`;
	process.stdout.write(line + '\n');
}

// Counts a callback; true when it was the last one.
function tick() {
	if (done++ === 0)
		tFirst = now();
	if (done < n)
		return false;
	report();
	return true;
}

function timeoutOf(i) {
	switch (pat) {
	case 'spread': return 1 + Math.floor(i / 1000);
	case 'shuffle': return 1 + (i * 7919) % 1000;
	case 'zero': return 0;
	default: return 1000;
	}
}

// One shared callback, as loop_bench.c passes one function: a closure per
// timer would measure closures, not timers.
function onTimer() {
	tick();
}

function startTimers() {
	for (let i = 0; i < n; i++) {
		const ms = timeoutOf(i);
		setTimeout(onTimer, ms);
		if (ms > maxTimeout)
			maxTimeout = ms;
	}
}

// Each immediate queues the next: setImmediate from inside an immediate
// runs in the next loop iteration, one per turn.
function onImmediate() {
	if (!tick())
		setImmediate(onImmediate);
}

// The no-op-ish threadpool request, see the header.
const statPath = __filename;
const salt = Buffer.alloc(8);
const submit = job === 'stat'
	? (cb) => fs.stat(statPath, cb)
	: (cb) => crypto.pbkdf2('k', salt, 1, 8, 'sha256', cb);

function onJobDone(err) {
	if (err)
		errors++;
	tick();
}

function startPool() {
	for (let i = 0; i < n; i++)
		submit(onJobDone);
}

function onPong(err) {
	if (err)
		errors++;
	if (!tick())
		submit(onPong);
}

cpu0 = process.cpuUsage();
baseKb = process.resourceUsage().maxRSS;
t0 = now();
switch (wl) {
case 'timers': startTimers(); break;
case 'immediates': setImmediate(onImmediate); break;
case 'pool': startPool(); break;
case 'pingpong': submit(onPong); break;
}
t1 = now();
process.on('exit', (code) => {
	if (done < n) {
		process.stderr.write(`node_bench: loop ended after ${done} of ${n} callbacks\n`);
		process.exitCode = 1;
	} else if (errors) {
		process.exitCode = 1;
	}
});
