#!/usr/bin/env python3
"""A fake loopd control socket for loopctl_fake.sh: varlink framing
(JSON + NUL, "continues" for streams) with canned replies, so loopctl's
output and exit statuses can be checked without the real daemon.

    loopctl_fake.py SOCKET LOG

Every call received is appended to LOG as one line, "METHOD PARAMETERS
more" with the parameters' keys sorted, and to LOG.raw as it came.  The socket is
ready once it exists.  Names that trigger errors: job "missing"
(NoSuchJob), "locked" (PermissionDenied), "exists" (JobExists), run 999
(NoSuchRun), plugin "nope" (NoSuchPlugin), schedule "bad"
(InvalidSchedule); job "failing" runs and fails; method
io.loopd.test.Close closes the connection without a reply.  GetStatus
says "degraded" while the file SOCKET.degraded exists.
"""
import json
import os
import socket
import socketserver
import sys
import threading
import time

SOCK, LOG = sys.argv[1], sys.argv[2]
log_lock = threading.Lock()
S = 1000000


def now():
    return int(time.time() * S)


class Err(Exception):
    def __init__(self, error, message, **extra):
        super().__init__(message)
        self.name, self.params = error, dict(message=message, **extra)


def job(name, **kw):
    j = dict(name=name, kind="exec", plugin="exec", schedule="30 3 * * *",
             tz="Europe/Berlin", args={"argv": ["/bin/true"]}, state="active",
             overlap="skip", catchup="once", timeout_ms=3600000, retries=2,
             retry_backoff_ms=90000, jitter_ms=0, next_usec=None,
             next_reason=None, last_usec=None, last_result=None,
             last_run=None, created_usec=1764000000 * S,
             updated_usec=1764000000 * S)
    j.update(kw)
    return j


def jobs():
    t = now()
    return [
        job("report", state="paused", next_reason="paused",
            last_usec=t - 2 * 86400 * S - 5 * S, last_result="failed",
            last_run=41, schedule="0 9 * * mon-fri", tz=None),
        job("backup", next_usec=t + 300 * S + S // 2,
            last_usec=t - 3700 * S, last_result="ok", last_run=42),
        job("once", kind="exec", state="done", schedule="at 2026-01-01 10:00",
            next_reason="one-shot done", tz=None),
    ]


def runs():
    base = 1764000000 * S
    return [
        dict(id=42, job="backup", trigger="schedule", attempt=1,
             scheduled_usec=base, started_usec=base,
             finished_usec=base + 1250000, result="ok", exit_code=0,
             output_bytes=12, output_truncated=False),
        dict(id=41, job="report", trigger="manual", attempt=1,
             scheduled_usec=base - 60 * S, started_usec=base - 60 * S,
             finished_usec=base - 60 * S + 125 * S, result="failed",
             exit_code=2, output_bytes=0, output_truncated=False),
        dict(id=40, job="report", trigger="catchup", attempt=1,
             scheduled_usec=base - 120 * S, started_usec=None,
             finished_usec=None, result="missed", exit_code=None,
             output_bytes=0, output_truncated=False),
    ]


def get_job(name):
    if name == "locked":
        raise Err("org.varlink.service.PermissionDenied",
                  "this call needs admin rights")
    for j in jobs():
        if j["name"] == name:
            return j
    raise Err("io.loopd.jobs.NoSuchJob", f"no job named '{name}'",
              name=name)


def plugin(name):
    if name == "nope":
        raise Err("io.loopd.plugins.NoSuchPlugin",
                  f"no plugin named '{name}'")
    return dict(name=name, version="1.0.0", description="runs commands",
                abi=1, path=f"/usr/lib/loopd/plugins/{name}.so",
                state="loaded", kinds=["exec"], handles=3, inflight=0,
                callbacks=120, callback_max_us=800, errors=0,
                last_error=None)


def answer(method, p):
    """The reply's parameters, a list of them for streams, or Err."""
    if method == "io.loopd.daemon.GetStatus":
        return dict(version="0.1.0", pid=4242,
                    started_usec=now() - 3723 * S,
                    state="degraded" if os.path.exists(SOCK + ".degraded")
                    else "running",
                    socket=SOCK, database="/var/lib/loopd/loopd.db",
                    jobs=dict(total=3, active=1, paused=1, running=0,
                              failing=1),
                    plugins=dict(loaded=2, failed=0))
    if method == "io.loopd.daemon.GetStats":
        return dict(loop=dict(iterations=1000, utilization=0.023,
                              lag_p50_us=20, lag_p99_us=120, lag_max_us=900,
                              phases=[dict(phase="timers", callbacks=5,
                                           time_us=40)]),
                    pool=dict(threads=5, busy=1, queued=0, completed=77,
                              cancelled=0, wait_p99_ns=5000),
                    store=dict(commits=12, db_bytes=3 * 1024 * 1024,
                               wal_bytes=4096),
                    ctl=dict(clients=1, calls=9, errors=0))
    if method == "io.loopd.daemon.Shutdown":
        return {}
    if method == "io.loopd.jobs.List":
        js = jobs()
        if "state" in p:
            js = [j for j in js if j["state"] == p["state"]]
        return dict(jobs=js)
    if method == "io.loopd.jobs.Get":
        return dict(job=get_job(p.get("name")))
    if method == "io.loopd.jobs.Add":
        if p.get("name") == "exists":
            raise Err("io.loopd.jobs.JobExists",
                      "a different job named 'exists' exists")
        if p.get("schedule") == "bad":
            raise Err("io.loopd.jobs.InvalidSchedule",
                      "expression: not a schedule at position 1",
                      expression="bad")
        return dict(job=job(p["name"], **{k: v for k, v in p.items()
                                           if k != "name"},
                            next_usec=now() + 3600 * S))
    if method == "io.loopd.jobs.Update":
        j = get_job(p.get("name"))
        j.update(p)
        return dict(job=j)
    if method == "io.loopd.jobs.Remove":
        get_job(p.get("name"))
        return {}
    if method in ("io.loopd.jobs.Pause", "io.loopd.jobs.Resume"):
        j = get_job(p.get("name"))
        j["state"] = "paused" if method.endswith("Pause") else "active"
        return dict(job=j)
    if method == "io.loopd.jobs.Trigger":
        name = p.get("name")
        if name != "failing":
            get_job(name)
        run = dict(id=43, job=name, trigger="manual", attempt=1,
                   scheduled_usec=1764000000 * S,
                   started_usec=1764000000 * S, finished_usec=None,
                   result="running", exit_code=None)
        if not p.get("wait"):
            return dict(run=run)
        end = dict(run, finished_usec=run["started_usec"] + 2500000,
                   result="failed" if name == "failing" else "ok",
                   exit_code=3 if name == "failing" else 0)
        if name == "failing":  # as loopd sends it: the end twice
            return [dict(run=run), dict(run=end), dict(run=end)]
        return [dict(run=run), dict(run=end)]
    if method == "io.loopd.jobs.Preview":
        if p.get("schedule") == "bad":
            raise Err("io.loopd.jobs.InvalidSchedule",
                      "minute field: value 61 out of range 0-59 at "
                      "position 1", expression="bad")
        base = 1774661400 * S  # 2026-03-28T01:30:00Z
        return dict(next=[base + i * 86400 * S
                          for i in range(p.get("count", 5))])
    if method == "io.loopd.runs.List":
        rs = runs()
        if "job" in p:
            rs = [r for r in rs if r["job"] == p["job"]]
        if "result" in p:
            rs = [r for r in rs if r["result"] == p["result"]]
        return dict(runs=rs[:p.get("limit", 20)])
    if method == "io.loopd.runs.Get":
        for r in runs():
            if r["id"] == p.get("id"):
                return dict(run=dict(r, output="hello\nworld\n"))
        raise Err("io.loopd.runs.NoSuchRun", f"no run {p.get('id')}")
    if method == "io.loopd.plugins.List":
        return dict(plugins=[plugin("exec"), dict(plugin("hello"),
                                                  kinds=[], state="failed",
                                                  errors=2)])
    if method == "io.loopd.plugins.Load":
        return dict(plugin=plugin(os.path.basename(p["path"])[:-3]))
    if method in ("io.loopd.plugins.Unload", "io.loopd.plugins.Reload"):
        return dict(plugin=plugin(p.get("name")))
    if method == "io.loopd.events.Subscribe":
        t = now()
        return [dict(seq=10),
                dict(seq=11, time_usec=t, type="run.started", job="backup",
                     id=44),
                dict(seq=12, time_usec=t, type="daemon.warning",
                     message="slow callback in hello"),
                # loopd's form: wrapped, with the subject as an object
                dict(event=dict(seq=13, time_usec=t, type="run.finished",
                                run=dict(id=44, job="backup", result="ok",
                                         exit_code=0, finished_usec=None))),
                None]
    if method == "org.varlink.service.GetInfo":
        return dict(vendor="loopd", product="loopd", version="0.1.0",
                    url="https://github.com/loopd/loopd",
                    interfaces=["io.loopd.jobs"])
    raise Err("org.varlink.service.MethodNotFound",
              f"no method {method}", method=method)


class Handler(socketserver.BaseRequestHandler):
    def send(self, msg):
        self.request.sendall(json.dumps(msg).encode() + b"\0")

    def handle(self):
        buf = b""
        while True:
            while b"\0" not in buf:
                data = self.request.recv(65536)
                if not data:
                    return
                buf += data
            raw, buf = buf.split(b"\0", 1)
            call = json.loads(raw)
            with log_lock, open(LOG, "a") as f, open(LOG + ".raw", "a") as r:
                r.write(json.dumps(call) + "\n")
                f.write("%s %s %s\n" % (
                    call.get("method"),
                    json.dumps(call.get("parameters", {}), sort_keys=True),
                    "more" if call.get("more") else ""))
            method, p = call.get("method"), call.get("parameters", {})
            if method == "io.loopd.test.Close":
                return
            try:
                out = answer(method, p)
            except Err as e:
                self.send({"error": e.name, "parameters": e.params})
                continue
            if not isinstance(out, list):
                self.send({"parameters": out})
                continue
            if not call.get("more"):
                self.send({"error": "org.varlink.service.ExpectedMore",
                           "parameters": {"message": "call with more"}})
                continue
            for i, params in enumerate(out):
                if params is None:  # a stream that goes on: hold it open
                    self.request.recv(1)
                    return
                last = i == len(out) - 1
                self.send({"parameters": params} if last else
                          {"parameters": params, "continues": True})


class Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True


if __name__ == "__main__":
    srv = Server(SOCK, Handler)
    srv.serve_forever()
