#!/usr/bin/env python3
"""malformed.py - 1,000 malformed frames over loopd's real socket, in ten
classes of 100, sent in batches of ten frames of one class (the classes
taking turns).  After every batch, GetStatus must answer on a fresh
connection within --probe-ms (200 ms); during the two slow classes it is
also asked while their clients are still attached (recorded, not
checked: a loop pass then serves up to 64 calls of each client, ~0.3 ms
each for a Preview of 1000, so tens of ms per client).  Every frame has an
expected outcome (below); at the end the daemon's resident memory and
open descriptors must be back near where they were after a warm-up pass
(one frame of each class, not counted, then 1 s): descriptors equal,
VmRSS at most --rss-slack-kb above.  Nothing may have changed state: the sentinel job
is still there and no job named rb-bad-* exists.

  class          frame                                     expected
  bad-json       truncated / corrupted / hand-made JSON    InvalidParameter, conn usable
  utf8           invalid UTF-8 in strings, keys, outside   InvalidParameter, conn usable
  deep           2,000-deep arrays/objects, unclosed too   InvalidParameter, conn usable
  dup-keys       duplicate keys at every level             InvalidParameter, conn usable
  oversized      1 MiB + 1 .. 1.5 MiB, with or without NUL closed, no reply
  garbage        random bytes; half with NULs, half without
                 (then shutdown(SHUT_WR))                  an error reply per NUL, conn
                                                           usable / closed, no reply
  slowloris      a call trickled a byte at a time, never
                 finished (10 at once)                     closed message-timeout after
                                                           its first byte (+ sweep)
  wrong-types    not an object; method/parameters/more/
                 oneway and method parameters of the
                 wrong type or range                       an error reply, conn usable
  unknown        unknown interfaces and methods, bad names InterfaceNotFound /
                                                           MethodNotFound /
                                                           InvalidParameter, conn usable
  never-reads    100 pipelined Preview(count 1000) calls
                 (~1.7 MB of replies), never read; half
                 stay connected, half hang up (10 at once) closed by the daemon within
                                                           idle-timeout + sweep

The daemon must run with [ctl] message-timeout = 1s and idle-timeout = 1s
(malformed.sh writes that configuration).  Stdlib only.  Prints a summary
and one line "FIGURES {json}" for RESULTS.md; exits 1 on any failure.
"""
import argparse
import json
import random
import select
import socket
import sys
import threading
import time

from vl import (GET_STATUS, INVALID_PARAMETER, JOBS_LIST, Closed, Conn,
                fd_list, get_status_ms, nfds, percentile, rss_kb)

IFACE_NOT_FOUND = "org.varlink.service.InterfaceNotFound"
METHOD_NOT_FOUND = "org.varlink.service.MethodNotFound"
MIB = 1 << 20

VALID_CALLS = [
    b'{"method":"io.loopd.daemon.GetStatus"}',
    b'{"method":"io.loopd.jobs.List","parameters":{"state":"active"}}',
    b'{"method":"io.loopd.jobs.Get","parameters":{"name":"rb-keep"}}',
    b'{"method":"io.loopd.jobs.Preview","parameters":{"schedule":"*/5 * * * *","tz":"Europe/Berlin","count":3}}',
    b'{"method":"io.loopd.runs.List","parameters":{"limit":5},"more":false}',
    b'{"method":"org.varlink.service.GetInfo","parameters":{}}',
]


class Failure(Exception):
    pass


class Suite:
    def __init__(self, args):
        self.a = args
        self.path = args.socket
        self.pid = args.pid
        self.rng = random.Random(args.seed)
        self.failures = []
        self.probes = []        # ms, the probes after each batch
        self.during = []        # ms, the probes while slow clients are on
        self.counts = {}        # frames sent per class
        self.closes = {}        # class -> [ms until the daemon closed]
        self.peak_rss = 0
        self.slowest = (0.0, "")
        self.lock = threading.Lock()

    # ---- helpers ----

    def fail(self, cls, i, why):
        with self.lock:
            self.failures.append("%s #%d: %s" % (cls, i, why))

    def probe(self, where, enforce=True):
        """GetStatus on a fresh connection.  enforce: the issue's check
        (after a batch), else only recorded (while slow clients are
        attached, which the issue does not ask for)."""
        try:
            ms, r = get_status_ms(self.path)
        except (OSError, Closed, ValueError) as e:
            self.failures.append("GetStatus probe %s: %s" % (where, e))
            return
        if "error" in r or r["parameters"].get("state") != "running":
            self.failures.append("GetStatus probe %s: %r" % (where, r))
        self.peak_rss = max(self.peak_rss, rss_kb(self.pid))
        if not enforce:
            self.during.append(ms)
            return
        self.probes.append(ms)
        if ms > self.slowest[0]:
            self.slowest = (ms, where)
        if ms > self.a.probe_ms:
            self.failures.append("GetStatus probe %s took %.1f ms (limit %d)"
                                 % (where, ms, self.a.probe_ms))

    def check_error(self, r, want):
        """An error reply of one of the names in want (any error if None),
        with parameters.message."""
        err = r.get("error")
        if not err:
            raise Failure("no error: %r" % (r,))
        if want and err not in want:
            raise Failure("error %s, not %s: %r" % (err, "/".join(want), r))
        msg = r.get("parameters", {}).get("message")
        if not isinstance(msg, str) or not msg:
            raise Failure("error without parameters.message: %r" % (r,))

    def usable(self, c):
        r = c.call(GET_STATUS)
        if "error" in r:
            raise Failure("the connection no longer works: %r" % (r,))

    def error_then_usable(self, payload, want=(INVALID_PARAMETER,), n=1):
        """Sends payload (NUL-terminated messages), expects n error
        replies, then a GetStatus on the same connection."""
        c = Conn(self.path)
        try:
            c.send_raw(payload)
            for _ in range(n):
                raw = c.recv_raw()
                try:
                    r = json.loads(raw.decode("utf-8"))
                except (UnicodeDecodeError, ValueError) as e:
                    raise Failure("reply is not UTF-8 JSON (%s): %r"
                                  % (e, raw[:200]))
                self.check_error(r, want)
            self.usable(c)
        except Closed as e:
            raise Failure("connection closed (%s)" % e)
        finally:
            c.close()

    def expect_closed(self, c, timeout, allow_reply=False):
        """Waits for the daemon to close c; ms it took.  No reply bytes
        unless allow_reply."""
        t0 = time.perf_counter()
        got = b""
        c.sock.settimeout(timeout)
        try:
            while True:
                d = c.sock.recv(1 << 16)
                if not d:
                    break
                got += d
        except (ConnectionResetError, BrokenPipeError):
            pass
        except socket.timeout:
            raise Failure("not closed within %.1f s" % timeout)
        if got and not allow_reply:
            raise Failure("unexpected reply before close: %r" % got[:200])
        return (time.perf_counter() - t0) * 1e3

    # ---- the classes: each makes and checks frame i ----

    def bad_json(self, i):
        fixed = [b'{"method":}', b'{method:"io.loopd.daemon.GetStatus"}',
                 b"{'method':'io.loopd.daemon.GetStatus'}",
                 b'{"method":"io.loopd.daemon.GetStatus",}',
                 b'{"method" "io.loopd.daemon.GetStatus"}',
                 b'{"method":"io.loopd.daemon.GetStatus"} trailing',
                 b'{}{}', b'NaN', b'{"method":"x","parameters":{"a":01}}',
                 b'{"method":"x","parameters":{"a":1e}}',
                 b'{"method":"io.loopd\x01.daemon.GetStatus"}',
                 b'{"method":"x","parameters":{"a":"\\u12"}}',
                 b'{"method":"x","parameters":{"a":"\\ud800"}}',
                 b'{"method":"x","parameters":{"a":"\\q"}}', b'{', b'}',
                 b'"', b'{"method":"io.loopd.daemon.GetStatus"',
                 b'{"method":"io.loopd.daemon.GetStatus"]', b'   ']
        if i < len(fixed):
            frame = fixed[i]
        else:
            frame = self.corrupt(self.rng.choice(VALID_CALLS))
        self.error_then_usable(frame + b"\0")

    def corrupt(self, call):
        """call truncated or with one byte changed, and no longer JSON."""
        while True:
            b = bytearray(call)
            if self.rng.random() < 0.5:
                b = b[:self.rng.randrange(1, len(b))]
            else:
                b[self.rng.randrange(len(b))] = self.rng.choice(b'{}[]:,"\\ x1')
            try:
                json.loads(bytes(b))
            except ValueError:
                return bytes(b)

    def utf8(self, i):
        bad = [b"\xff", b"\xfe", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80",
               b"\xf4\x90\x80\x80", b"\xe2\x82", b"\x80", b"\xc3", b"\xf8\x88\x80\x80\x80"]
        seq = bad[i % len(bad)]
        where = (i // len(bad)) % 5
        if where == 0:   # inside a parameter's value
            frame = b'{"method":"io.loopd.jobs.Get","parameters":{"name":"a' + seq + b'"}}'
        elif where == 1:  # inside the method name
            frame = b'{"method":"io.loopd.' + seq + b'.GetStatus"}'
        elif where == 2:  # inside a key
            frame = b'{"method":"io.loopd.daemon.GetStatus","' + seq + b'":1}'
        elif where == 3:  # outside any string
            frame = b'{"method":"io.loopd.daemon.GetStatus"' + seq + b'}'
        else:             # a long valid string, then the bad bytes
            frame = (b'{"method":"io.loopd.jobs.Get","parameters":{"name":"'
                     + "\u00e9\u4e2d\U0001f600".encode() * 50 + seq + b'"}}')
        self.error_then_usable(frame + b"\0")

    def deep(self, i):
        n = 2000
        kind = i % 5
        if kind == 0:
            body = b"[" * n + b"]" * n
        elif kind == 1:
            body = b'{"a":' * n + b"1" + b"}" * n
        elif kind == 2:
            body = b'[{"a":' * (n // 2) + b"1" + b"}]" * (n // 2)
        elif kind == 3:
            body = b"[" * n            # never closed
        else:
            body = b'{"a":[' * (n // 2)
        if i % 2:
            frame = b'{"method":"io.loopd.daemon.GetStatus","parameters":{"x":' + body + b"}}"
        else:
            frame = b'{"method":' + body + b"}"
        self.error_then_usable(frame + b"\0")

    def dup_keys(self, i):
        frames = [
            b'{"method":"io.loopd.daemon.GetStatus","method":"io.loopd.daemon.Shutdown"}',
            b'{"method":"io.loopd.daemon.Shutdown","method":"io.loopd.daemon.GetStatus"}',
            b'{"method":"io.loopd.jobs.Remove","parameters":{"name":"rb-keep","name":"rb-keep"}}',
            b'{"method":"io.loopd.jobs.Pause","parameters":{"name":"nope","name":"rb-keep"}}',
            b'{"method":"io.loopd.jobs.Get","parameters":{"name":"rb-keep"},"parameters":{}}',
            b'{"method":"io.loopd.daemon.GetStatus","more":false,"more":true}',
            b'{"method":"io.loopd.daemon.GetStatus","oneway":true,"oneway":false}',
            b'{"method":"io.loopd.jobs.Add","parameters":{"name":"rb-bad-d","kind":"hello",'
            b'"schedule":"@daily","args":{"message":"a","message":"b"}}}',
            b'{"method":"io.loopd.jobs.List","parameters":{"x":{"y":[{"z":1,"z":2}]}}}',
            b'{"a":1,"a":1}',
        ]
        frame = frames[i % len(frames)]
        if i >= len(frames):  # the same keys, reordered with padding
            frame = frame.replace(b",", b" ,  ", self.rng.randrange(1, 4))
        self.error_then_usable(frame + b"\0")

    def oversized(self, i):
        size = MIB + 1 + self.rng.randrange(MIB // 2)
        kind = i % 3
        if kind == 0:   # a valid call with a huge parameter, NUL at the end
            head = b'{"method":"io.loopd.jobs.Get","parameters":{"name":"'
            frame = head + b"x" * (size - len(head) - 3) + b'"}}' + b"\0"
        elif kind == 1:  # whitespace, NUL at the end
            frame = b" " * size + b"\0"
        else:           # no NUL at all
            frame = b"[" + b"1," * (size // 2) + b"1"
        c = Conn(self.path)
        try:
            try:
                c.send_raw(frame)
            except (BrokenPipeError, ConnectionResetError):
                pass  # closed while we were still sending: fine
            ms = self.expect_closed(c, 5.0)
        finally:
            c.close()
        self.closes.setdefault("oversized", []).append(ms)

    def garbage(self, i):
        n = self.rng.randrange(1, 4096)
        data = bytearray(self.rng.getrandbits(8) for _ in range(n))
        if i % 2 == 0:  # with NULs: each NUL ends a message
            for _ in range(self.rng.randrange(1, 8)):
                data[self.rng.randrange(n)] = 0
            if data[-1] != 0:
                data.append(0)
            self.error_then_usable(bytes(data), want=None, n=data.count(0))
            return
        data = bytes(b if b else 1 for b in data)  # without a NUL
        c = Conn(self.path)
        try:
            c.send_raw(data)
            c.sock.shutdown(socket.SHUT_WR)
            ms = self.expect_closed(c, 5.0)
        finally:
            c.close()
        self.closes.setdefault("garbage-eof", []).append(ms)

    def slowloris(self, i):
        msg = b'{"method":"io.loopd.daemon.GetStatus","parameters":{"pad":"' + b"z" * 64
        c = Conn(self.path)
        limit = self.a.message_timeout_ms / 1e3 + 1.5
        t0 = time.perf_counter()
        try:
            for k in range(len(msg)):
                if i % 4 == 3 and k > 0:   # one in four stalls after a byte
                    interval = limit
                else:
                    interval = self.rng.uniform(0.1, 0.3)
                try:
                    c.send_raw(msg[k:k + 1])
                except (BrokenPipeError, ConnectionResetError):
                    break
                r, _, _ = select.select([c.sock], [], [], interval)
                if r:
                    if c.sock.recv(4096):
                        raise Failure("a reply to an unfinished message")
                    break
                if time.perf_counter() - t0 > limit:
                    raise Failure("still open %.1f s after the first byte" % limit)
            else:
                raise Failure("the whole prefix was taken without a close")
        except ConnectionResetError:
            pass
        finally:
            c.close()
        ms = (time.perf_counter() - t0) * 1e3
        if ms < self.a.message_timeout_ms * 0.95:
            raise Failure("closed after %.0f ms, before message-timeout" % ms)
        with self.lock:
            self.closes.setdefault("slowloris", []).append(ms)

    def wrong_types(self, i):
        G = b'"method":"io.loopd.daemon.GetStatus"'
        frames = [
            b"[]", b'"io.loopd.daemon.GetStatus"', b"42", b"null", b"true",
            b"[{" + G + b"}]",
            b'{"method":42}', b'{"method":null}', b'{"method":["io.loopd.daemon.GetStatus"]}',
            b'{"method":{"name":"io.loopd.daemon.GetStatus"}}', b'{"parameters":{}}', b"{}",
            b"{" + G + b',"parameters":[]}', b"{" + G + b',"parameters":"x"}',
            b"{" + G + b',"parameters":7}', b"{" + G + b',"more":"yes"}',
            b"{" + G + b',"more":1}', b"{" + G + b',"oneway":"no"}',
            b"{" + G + b',"more":true,"oneway":true}',
            b'{"method":"io.loopd.jobs.Get","parameters":{"name":42}}',
            b'{"method":"io.loopd.jobs.Get","parameters":{"name":null}}',
            b'{"method":"io.loopd.jobs.Get","parameters":{"name":["rb-keep"]}}',
            b'{"method":"io.loopd.jobs.Get"}',
            b'{"method":"io.loopd.jobs.Preview","parameters":{"schedule":"every 1s","count":"5"}}',
            b'{"method":"io.loopd.jobs.Preview","parameters":{"schedule":"every 1s","count":-1}}',
            b'{"method":"io.loopd.jobs.Preview","parameters":{"schedule":"every 1s","count":1001}}',
            b'{"method":"io.loopd.jobs.Preview","parameters":{"schedule":"every 1s","count":1.5}}',
            b'{"method":"io.loopd.jobs.Preview","parameters":{"schedule":"every 1s","from_usec":"now"}}',
            b'{"method":"io.loopd.jobs.Preview","parameters":{"schedule":5}}',
            b'{"method":"io.loopd.jobs.Preview","parameters":{"schedule":"every 1s","tz":7}}',
            b'{"method":"io.loopd.jobs.List","parameters":{"state":5}}',
            b'{"method":"io.loopd.jobs.List","parameters":{"name":{}}}',
            b'{"method":"io.loopd.runs.List","parameters":{"limit":"x"}}',
            b'{"method":"io.loopd.runs.List","parameters":{"limit":-5}}',
            b'{"method":"io.loopd.runs.Get","parameters":{"id":"1"}}',
            b'{"method":"io.loopd.runs.Get","parameters":{"id":1e400}}',
            b'{"method":"io.loopd.daemon.Shutdown","parameters":{"timeout_ms":"soon"}}',
            b'{"method":"io.loopd.daemon.Shutdown","parameters":{"timeout_ms":-1}}',
            b'{"method":"io.loopd.jobs.Add","parameters":{"name":7,"kind":"hello","schedule":"@daily"}}',
            b'{"method":"io.loopd.jobs.Add","parameters":{"name":"rb-bad-a","kind":"hello",'
            b'"schedule":"@daily","args":"message"}}',
            b'{"method":"io.loopd.jobs.Add","parameters":{"name":"rb-bad-b","kind":"hello",'
            b'"schedule":7,"args":{"message":"x"}}}',
            b'{"method":"io.loopd.jobs.Add","parameters":{"name":"rb-bad-c","kind":"hello",'
            b'"schedule":"@daily","args":{"message":"x"},"timeout_ms":"1s"}}',
            b'{"method":"io.loopd.jobs.Add","parameters":{"name":"rb bad","kind":"hello",'
            b'"schedule":"@daily","args":{"message":"x"}}}',
            b'{"method":"io.loopd.jobs.Update","parameters":{"name":"rb-keep","schedule":["@daily"]}}',
            b'{"method":"io.loopd.jobs.Remove","parameters":{"name":true}}',
            b'{"method":"io.loopd.jobs.Trigger","parameters":{"name":"rb-keep","wait":"yes"}}',
            b'{"method":"io.loopd.plugins.Load","parameters":{"path":1}}',
            b'{"method":"io.loopd.plugins.Unload","parameters":{"name":null}}',
            b'{"method":"io.loopd.events.Subscribe","parameters":{"types":"run.*"},"more":true}',
            b'{"method":"org.varlink.service.GetInterfaceDescription","parameters":{"interface":1}}',
        ]
        frame = frames[i % len(frames)]
        self.error_then_usable(frame + b"\0", want=None)

    def unknown(self, i):
        fixed = [
            ("io.loopd.nope.Get", IFACE_NOT_FOUND),
            # "io.loopd" is no interface, though it prefixes method names.
            ("io.loopd.Get", IFACE_NOT_FOUND),
            ("io.loopd.jobs.Nope", METHOD_NOT_FOUND), ("io.loopd.jobs.list", METHOD_NOT_FOUND),
            ("io.loopd.daemon.Getstatus", METHOD_NOT_FOUND),
            ("org.varlink.service.Nope", METHOD_NOT_FOUND),
            ("org.varlink.servic.GetInfo", IFACE_NOT_FOUND),
            ("nodot", INVALID_PARAMETER), (".", INVALID_PARAMETER), ("x.", INVALID_PARAMETER),
            (".x", INVALID_PARAMETER), ("", INVALID_PARAMETER),
            ("io.loopd.j\u00f6bs.Get", IFACE_NOT_FOUND),
            ("io.loopd.\u0001.X", IFACE_NOT_FOUND),
            ("a." * 30000 + "b", IFACE_NOT_FOUND),
        ]
        if i < len(fixed):
            method, want = fixed[i]
        else:
            letters = "abcdefghijklmnopqrstuvwxyz"
            name = "".join(self.rng.choice(letters) for _ in range(self.rng.randrange(1, 30)))
            if i % 3 == 0:
                method, want = "io.loopd.jobs." + name.capitalize(), METHOD_NOT_FOUND
            else:
                method, want = "io.rb" + name + "." + name.capitalize(), IFACE_NOT_FOUND
        if i == 15:  # GetInterfaceDescription of an unknown interface
            frame = json.dumps({"method": "org.varlink.service.GetInterfaceDescription",
                                "parameters": {"interface": "io.loopd.nope"}}).encode()
            want = IFACE_NOT_FOUND
        else:
            frame = json.dumps({"method": method}).encode()
        self.error_then_usable(frame + b"\0",
                               want=want if isinstance(want, tuple) else (want,))

    def never_reads(self, i):
        call = (b'{"method":"io.loopd.jobs.Preview","parameters":{"schedule":"every 1s",'
                b'"count":1000}}\0')
        c = Conn(self.path)
        t0 = time.perf_counter()
        try:
            try:
                c.send_raw(call * 100)
            except (BrokenPipeError, ConnectionResetError):
                raise Failure("closed while the calls were being sent")
            if i % 2:  # hangs up without reading: its backlog must go
                return
            # Stays connected, never reads: the daemon must close it once
            # its output has made no progress for idle-timeout.
            limit = self.a.idle_timeout_ms / 1e3 + 2.0
            p = select.poll()
            p.register(c.sock, select.POLLRDHUP | select.POLLHUP)
            while True:
                left = limit - (time.perf_counter() - t0)
                if left <= 0:
                    raise Failure("a client that never reads was not closed "
                                  "within %.1f s" % limit)
                ev = p.poll(left * 1e3)
                if any(e & (select.POLLHUP | select.POLLRDHUP) for _, e in ev):
                    break
            ms = (time.perf_counter() - t0) * 1e3
            with self.lock:
                self.closes.setdefault("never-reads", []).append(ms)
        finally:
            c.close()

    # ---- running ----

    CLASSES = ["bad-json", "utf8", "deep", "dup-keys", "oversized", "garbage",
               "slowloris", "wrong-types", "unknown", "never-reads"]
    PARALLEL = {"slowloris", "never-reads"}

    def method(self, cls):
        return getattr(self, cls.replace("-", "_"))

    def one(self, cls, i):
        try:
            self.method(cls)(i)
        except Failure as e:
            self.fail(cls, i, str(e))
        except (OSError, Closed, ValueError, KeyError) as e:
            self.fail(cls, i, "%s: %s" % (type(e).__name__, e))

    def batch(self, cls, first, n):
        if cls not in self.PARALLEL:
            for i in range(first, first + n):
                self.one(cls, i)
        else:
            ts = [threading.Thread(target=self.one, args=(cls, i))
                  for i in range(first, first + n)]
            for t in ts:
                t.start()
            time.sleep(0.3)
            self.probe("during %s %d-%d" % (cls, first, first + n - 1), False)
            for t in ts:
                t.join()
        self.counts[cls] = self.counts.get(cls, 0) + n

    def settle(self, want_fds):
        """Waits up to 5 s for the descriptor count to come back."""
        deadline = time.time() + 5
        while time.time() < deadline and nfds(self.pid) != want_fds:
            time.sleep(0.05)
        time.sleep(0.5)

    def run(self):
        a = self.a
        cold_rss, cold_fds = rss_kb(self.pid), nfds(self.pid)
        cold_list = fd_list(self.pid)
        jobs_before = self.jobs()
        # Warm-up: one frame of each class, not counted.
        for cls in self.CLASSES:
            self.one(cls, 0)
        time.sleep(1.0)
        warm_rss, warm_fds = rss_kb(self.pid), nfds(self.pid)
        warm_list = fd_list(self.pid)
        self.peak_rss = warm_rss
        t0 = time.time()
        per = a.frames // 10 // len(self.CLASSES)   # batches per class
        for b in range(per * len(self.CLASSES)):
            cls = self.CLASSES[b % len(self.CLASSES)]
            first = (b // len(self.CLASSES)) * 10
            self.batch(cls, first, 10)
            self.probe("after batch %d (%s)" % (b + 1, cls))
        elapsed = time.time() - t0
        self.settle(warm_fds)
        end_rss, end_fds = rss_kb(self.pid), nfds(self.pid)
        jobs_after = self.jobs()
        # The checks at the end.
        if end_fds != warm_fds:
            self.failures.append("descriptors: %d after the warm-up, %d at the end:\n"
                                 "warm: %s\nend: %s\n(at start: %s)"
                                 % (warm_fds, end_fds, warm_list, fd_list(self.pid), cold_list))
        if end_rss - warm_rss > a.rss_slack_kb:
            self.failures.append("VmRSS %d kB at the end, %d kB after the warm-up "
                                 "(+%d kB, tolerance %d kB)"
                                 % (end_rss, warm_rss, end_rss - warm_rss, a.rss_slack_kb))
        if "rb-keep" not in jobs_after or jobs_after != jobs_before:
            self.failures.append("jobs changed: %s -> %s" % (sorted(jobs_before), sorted(jobs_after)))
        c = Conn(self.path)
        stats = c.call("io.loopd.daemon.GetStats")["parameters"]["ctl"]
        c.close()
        total = sum(self.counts.values())
        if total != a.frames:
            self.failures.append("%d frames sent, not %d" % (total, a.frames))
        fig = {
            "frames": total, "seconds": round(elapsed, 1), "seed": a.seed,
            "probes": len(self.probes),
            "probe_ms": {"p50": round(percentile(self.probes, 50), 2),
                         "p99": round(percentile(self.probes, 99), 2),
                         "max": round(max(self.probes or [0]), 2),
                         "slowest": self.slowest[1]},
            "probes_during_slow": len(self.during),
            "probe_during_slow_ms": {"p50": round(percentile(self.during, 50), 2),
                                     "max": round(max(self.during or [0]), 2)},
            "close_ms": {k: {"min": round(min(v)), "max": round(max(v))}
                         for k, v in sorted(self.closes.items())},
            "rss_kb": {"start": cold_rss, "warm": warm_rss, "peak": self.peak_rss,
                       "end": end_rss},
            "fds": {"start": cold_fds, "warm": warm_fds, "end": end_fds},
            "ctl": {"accepted": stats["accepted"], "rejected": stats["rejected"],
                    "errors": stats["errors"], "clients_at_end": stats["clients"]},
        }
        print("malformed: %d frames in %.1f s (seed %d); GetStatus probes: %d, "
              "p50 %.2f ms, p99 %.2f ms, max %.2f ms (limit %d)"
              % (total, elapsed, a.seed, len(self.probes), fig["probe_ms"]["p50"],
                 fig["probe_ms"]["p99"], fig["probe_ms"]["max"], a.probe_ms))
        print("  slowest probe: %.2f ms, %s" % self.slowest)
        print("  recorded only: %d probes while slow clients were attached: p50 %.2f ms, "
              "max %.2f ms" % (len(self.during), percentile(self.during, 50),
                               max(self.during or [0])))
        for k, v in sorted(self.closes.items()):
            print("  %-12s closed after %.0f-%.0f ms" % (k, min(v), max(v)))
        print("  VmRSS: start %d kB, after warm-up %d kB, peak %d kB, end %d kB (+%d kB; "
              "tolerance +%d kB)" % (cold_rss, warm_rss, self.peak_rss, end_rss,
                                     end_rss - warm_rss, a.rss_slack_kb))
        print("  descriptors: start %d, after warm-up %d, end %d (the last two must be equal)"
              % (cold_fds, warm_fds, end_fds))
        print("FIGURES " + json.dumps(fig, sort_keys=True))
        for f in self.failures[:50]:
            print("FAIL: " + f, file=sys.stderr)
        if len(self.failures) > 50:
            print("FAIL: ... %d more" % (len(self.failures) - 50), file=sys.stderr)
        return 1 if self.failures else 0

    def jobs(self):
        c = Conn(self.path)
        try:
            r = c.call(JOBS_LIST)
        finally:
            c.close()
        return {j["name"] for j in r["parameters"]["jobs"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--socket", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--probe-ms", type=int, default=200)
    ap.add_argument("--rss-slack-kb", type=int, default=5 * 1024)
    ap.add_argument("--message-timeout-ms", type=int, default=1000)
    ap.add_argument("--idle-timeout-ms", type=int, default=1000)
    ap.add_argument("--only", help="run this class alone (debugging)")
    a = ap.parse_args()
    s = Suite(a)
    if a.only:
        s.CLASSES = [a.only]
    sys.exit(s.run())


if __name__ == "__main__":
    main()
