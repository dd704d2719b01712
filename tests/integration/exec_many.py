#!/usr/bin/env python3
"""exec_many.py SOCKET DATABASE LOOPD_PID [--jobs N] [--seconds S]
                [--sleep S] [--check]

Issue 5: "200 long-running exec jobs at once delay neither other jobs'
starts nor the store's acknowledgements", measured on a running loopd
(with the exec and hello plugins) through its socket and its database.

  set-up   two jobs due every second: tick-hello (hello) and tick-exec
           (exec /bin/true); N exec jobs long-0..long-(N-1), `sleep 30.25`
           (--sleep: another duration, to tell them from others' sleeps),
           due every second too, but paused.
  without  S seconds: one jobs.Add (a paused hello job) every 100 ms on
           one connection, each timed from send to acknowledgement (which
           comes after its commit).
  with     the same S seconds of Adds; at the window's start the N long
           jobs are resumed (jobs.Resume over 20 more connections, so that
           they commit together), so that they are all due at the next
           whole second and the scheduler starts them in one burst (while
           one runs, overlap `skip` keeps it from starting again); after
           the window, until all N `sleep 30.25` children of loopd run (60
           s at most), read from /proc.

For each window, from the database: the ticks' lateness (started_usec -
scheduled_usec: when the scheduler began the run), tick-exec's due ->
finished (its /bin/true spawned, run and reaped), skipped or missed ticks;
and the Adds' latency.  Prints one "key value" line per figure, then a
table.  --check fails (exit 1, saying what) on a real stall: an Add
unacknowledged or over 2 s, a tick started over 2 s late or tick-exec
finished over 3 s after its due time, a tick missed, or the long jobs'
processes not all running within 60 s.  Without --check nothing is asserted.
"""
import argparse
import json
import math
import os
import socket
import sqlite3
import sys
import threading
import time

ADD = "io.loopd.jobs.Add"
RESUME = "io.loopd.jobs.Resume"
FAN = 20  # connections for the long jobs' calls
ADD_BOUND_MS = 2000
START_BOUND_MS = 2000
EXEC_DONE_BOUND_MS = 3000


class Conn:
    """One varlink connection: NUL-terminated JSON messages."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(path)
        self.buf = b""

    def send(self, method, params):
        msg = {"method": method, "parameters": params}
        self.sock.sendall(json.dumps(msg).encode() + b"\0")

    def recv(self):
        while b"\0" not in self.buf:
            d = self.sock.recv(1 << 16)
            if not d:
                raise EOFError("loopd closed the connection")
            self.buf += d
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def pipeline(self, method, params_list):
        """Sends every call at once (a thread), then reads the replies:
        the number of error replies; the first is printed."""
        data = b"".join(json.dumps({"method": method, "parameters": p})
                        .encode() + b"\0" for p in params_list)
        t = threading.Thread(target=self.sock.sendall, args=(data,))
        t.start()
        bad = 0
        for _ in params_list:
            r = self.recv()
            if "error" in r:
                bad += 1
                if bad == 1:
                    print("exec_many: %s: %s" % (method, json.dumps(r)[:300]),
                          file=sys.stderr)
        t.join()
        return bad


def pcts(v):
    """p50, p99, max (nearest rank) of v, or None each."""
    if not v:
        return None, None, None
    v = sorted(v)
    return (v[max(1, math.ceil(0.5 * len(v))) - 1],
            v[max(1, math.ceil(0.99 * len(v))) - 1], v[-1])


def fan_out(path, method, params_list):
    """The calls spread over FAN connections, each pipelined, all at once:
    the number of error replies."""
    bad = [0] * FAN
    def one(k):
        bad[k] = Conn(path).pipeline(method, params_list[k::FAN])
    th = [threading.Thread(target=one, args=(k,)) for k in range(FAN)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    return sum(bad)


def set_up(path, n):
    ticks = [{"name": "tick-hello", "kind": "hello", "schedule": "* * * * * *",
              "args": {"message": "tick"}},
             {"name": "tick-exec", "kind": "exec", "schedule": "* * * * * *",
              "args": {"argv": ["/bin/true"]}}]
    long = [{"name": "long-%d" % i, "kind": "exec", "state": "paused",
             "schedule": "* * * * * *", "args": {"argv": LONG_ARGV}}
            for i in range(n)]
    if Conn(path).pipeline(ADD, ticks) or fan_out(path, ADD, long):
        sys.exit("exec_many: adding the jobs failed")


def probe_adds(c, tag, seconds):
    """One Add every 100 ms for `seconds`: latencies (ms) and failures."""
    lat, failed, i = [], 0, 0
    end = time.time() + seconds
    while time.time() < end:
        t0 = time.perf_counter()
        c.send(ADD, {"name": "probe-%s-%d" % (tag, i), "kind": "hello",
                     "schedule": "@yearly", "state": "paused",
                     "args": {"message": "probe"}})
        r = c.recv()
        ms = (time.perf_counter() - t0) * 1000
        if "error" in r:
            failed += 1
        else:
            lat.append(ms)
        i += 1
        time.sleep(max(0.0, 0.1 - ms / 1000))
    return lat, failed


def next_second():
    t = int(time.time()) + 1
    time.sleep(max(0.0, t - time.time()))
    return t


def ticks(db, job, lo, hi):
    """The runs of job due in [lo, hi) s: (started - due ms for the run
    ones, finished - due ms, result counts)."""
    q = """SELECT r.scheduled_usec, r.started_usec, r.finished_usec, r.result
           FROM runs r JOIN jobs j ON j.id = r.job_id
           WHERE j.name = ? AND r.scheduled_usec >= ? AND r.scheduled_usec < ?"""
    late, done, results = [], [], {}
    for due, started, fin, res in db.execute(q, (job, lo * 10**6, hi * 10**6)):
        results[res] = results.get(res, 0) + 1
        if started:
            late.append((started - due) / 1000)
        if fin and res == "ok":
            done.append((fin - due) / 1000)
    return late, done, results


LONG_ARGV = ["sleep", "30.25"]  # --sleep replaces the duration


def long_procs(parent):
    """How many children of parent run the long jobs' command (/proc)."""
    want = ("\0".join(LONG_ARGV) + "\0").encode()
    n = 0
    for pid in os.listdir("/proc"):
        try:
            with open("/proc/%s/stat" % pid) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if ppid == parent:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    n += f.read() == want
        except (OSError, ValueError, IndexError):
            pass
    return n


def wait_long(parent, n, due, limit_s=60):
    """Until n long processes run (limit_s at most): (how many, seconds
    from their due time to when they were seen all running)."""
    end = time.time() + limit_s
    while True:
        k = long_procs(parent)
        if k >= n or time.time() > end:
            return k, time.time() - due
        time.sleep(0.1)


def resume_long(path, n, out):
    """Resumes the n long jobs; out: errors, ms."""
    t0 = time.perf_counter()
    out["bad"] = fan_out(path, RESUME,
                         [{"name": "long-%d" % i} for i in range(n)])
    out["ms"] = (time.perf_counter() - t0) * 1000


def window(path, db_path, tag, seconds, long_n, parent):
    """A window of `seconds` from a second's start, with long_n long jobs
    resumed at its start: its figures, as a dict."""
    c = Conn(path)
    lo = next_second()
    resumed = {}
    if long_n:
        th = threading.Thread(target=resume_long,
                              args=(path, long_n, resumed))
        th.start()
    lat, failed = probe_adds(c, tag, seconds)
    if long_n:
        th.join()
    hi = lo + seconds
    time.sleep(max(0.0, hi + 1.5 - time.time()))  # the last ticks end
    db = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True, timeout=10)
    f = {"adds": len(lat), "adds_failed": failed}
    f["add_p50_ms"], f["add_p99_ms"], f["add_max_ms"] = pcts(lat)
    for job in ("tick-hello", "tick-exec"):
        late, done, results = ticks(db, job, lo, hi)
        k = job.replace("tick-", "")
        f[k + "_runs"] = results
        f[k + "_late_p50_ms"], f[k + "_late_p99_ms"], \
            f[k + "_late_max_ms"] = pcts(late)
        if job == "tick-exec":
            f["exec_done_p50_ms"], f["exec_done_p99_ms"], \
                f["exec_done_max_ms"] = pcts(done)
    if long_n:
        f["long_resume_errors"] = resumed.get("bad", long_n)
        f["long_resume_ms"] = resumed.get("ms")
        f["long_running"], f["long_seen_running_s"] = wait_long(
            parent, long_n, lo + 1)
    db.close()
    c.sock.close()
    return f


def check(name, f, seconds, n):
    errs = []
    if f["adds_failed"]:
        errs.append("%d Adds failed" % f["adds_failed"])
    if f["add_max_ms"] is None or f["add_max_ms"] > ADD_BOUND_MS:
        errs.append("an Add took %s ms (bound %d)" % (f["add_max_ms"],
                                                     ADD_BOUND_MS))
    for k in ("hello", "exec"):
        m = f[k + "_late_max_ms"]
        if m is None or m > START_BOUND_MS:
            errs.append("tick-%s started %s ms late (bound %d)"
                        % (k, m, START_BOUND_MS))
        runs = f[k + "_runs"]
        if runs.get("missed") or sum(runs.values()) < seconds - 1:
            errs.append("tick-%s: runs %s in %d s" % (k, runs, seconds))
    m = f["exec_done_max_ms"]
    if m is None or m > EXEC_DONE_BOUND_MS:
        errs.append("tick-exec finished %s ms after its due time (bound %d)"
                    % (m, EXEC_DONE_BOUND_MS))
    if n and (f["long_resume_errors"] or f["long_running"] != n):
        errs.append("%d of %d long jobs running (%s errors resuming them)"
                    % (f["long_running"], n, f["long_resume_errors"]))
    for e in errs:
        print("exec_many: %s: %s" % (name, e), file=sys.stderr)
    return not errs


def fmt(v):
    return "-" if v is None else ("%.1f" % v if isinstance(v, float) else str(v))


def table(without, with_):
    rows = [("Add ack p50 / p99 / max ms", "add_p50_ms", "add_p99_ms",
             "add_max_ms"),
            ("tick-hello late p50 / p99 / max ms", "hello_late_p50_ms",
             "hello_late_p99_ms", "hello_late_max_ms"),
            ("tick-exec late p50 / p99 / max ms", "exec_late_p50_ms",
             "exec_late_p99_ms", "exec_late_max_ms"),
            ("tick-exec due -> finished p50 / p99 / max ms",
             "exec_done_p50_ms", "exec_done_p99_ms", "exec_done_max_ms")]
    print("| figure | without | with the long jobs |")
    print("|---|--:|--:|")
    for label, *keys in rows:
        print("| %s | %s | %s |" % (
            label, " / ".join(fmt(without[k]) for k in keys),
            " / ".join(fmt(with_[k]) for k in keys)))
    for k in ("hello_runs", "exec_runs"):
        print("| tick-%s runs | %s | %s |" % (
            k.split("_")[0], without[k], with_[k]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("socket")
    ap.add_argument("database")
    ap.add_argument("pid", type=int, help="loopd's")
    ap.add_argument("--jobs", type=int, default=200)
    ap.add_argument("--seconds", type=int, default=6)
    ap.add_argument("--sleep", default=LONG_ARGV[1])
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    LONG_ARGV[1] = a.sleep
    if a.seconds < 3:
        sys.exit("exec_many: --seconds must be 3 or more")
    set_up(a.socket, a.jobs)
    time.sleep(1.5)  # the ticks' first runs
    without = window(a.socket, a.database, "a", a.seconds, 0, a.pid)
    with_ = window(a.socket, a.database, "b", a.seconds, a.jobs, a.pid)
    for name, f in (("without", without), ("with", with_)):
        for k in sorted(f):
            print("%s.%s %s" % (name, k, fmt(f[k]) if not isinstance(
                f[k], dict) else json.dumps(f[k], sort_keys=True)))
    table(without, with_)
    if a.check:
        ok = check("without", without, a.seconds, 0)
        ok = check("with %d long jobs" % a.jobs, with_, a.seconds,
                   a.jobs) and ok
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
