#!/usr/bin/env python3
"""clients500.py - many concurrent clients on loopd's socket (stdlib only).

load mode (default): --clients connections, all open at once, for
--seconds; each calls GetStatus and jobs.List in turn, one call every
--interval-ms (a random phase each, so the calls are spread out; a
reply later than that skips the client's missed slots, keeping its
phase, so a stall does not line all clients up into one burst).  The
latency of a call is from just before its send to its reply, read in
one epoll loop.  Prints calls, errors, p50/p99/max latency and one line
"FIGURES {json}"; exits 1 if a call failed (error reply, refusal,
disconnect, timeout) or if the p99 is above --p99-ms.

hold mode (--hold N): opens N connections one after the other, each
asked GetStatus: a reply is "accepted"; a Busy error followed by the
close is "refused" (counted by its message); a close without a word, or
with another error, is "untold".  Prints "accepted A refused R untold U messages {...}" and
keeps the accepted connections open until stdin reaches EOF, so that
several holders (of several uids) can fill the daemon together.
"""
import argparse
import heapq
import json
import random
import selectors
import socket
import sys
import time

from vl import BUSY, GET_STATUS, JOBS_LIST, Closed, Conn, percentile

CALLS = [
    json.dumps({"method": GET_STATUS}).encode() + b"\0",
    json.dumps({"method": JOBS_LIST}).encode() + b"\0",
]


class Client:
    __slots__ = ("sock", "buf", "sent_at", "kind", "n")

    def __init__(self, sock, n):
        self.sock, self.buf, self.sent_at, self.kind, self.n = sock, b"", 0.0, 0, n


def load(a):
    rng = random.Random(a.seed)
    sel = selectors.DefaultSelector()
    clients, errors, lat = [], [], {0: [], 1: []}
    for n in range(a.clients):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(a.socket)
        except OSError as e:
            errors.append("connect %d: %s" % (n, e))
            s.close()
            continue
        s.setblocking(False)
        c = Client(s, n)
        clients.append(c)
        sel.register(s, selectors.EVENT_READ, c)
    interval = a.interval_ms / 1e3
    t0 = time.perf_counter()
    end = t0 + a.seconds
    timers = [(t0 + rng.uniform(0, interval), c.n, c) for c in clients]
    heapq.heapify(timers)
    busy = 0
    late = 0

    def drop(c, why):
        errors.append("client %d: %s" % (c.n, why))
        try:
            sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        c.sock.close()
        c.sent_at = 0.0

    while True:
        now = time.perf_counter()
        while timers and timers[0][0] <= now:
            due, _, c = heapq.heappop(timers)
            if due >= end:
                continue
            c.sent_at = time.perf_counter()
            try:
                c.sock.send(CALLS[c.kind])  # small: fits the socket buffer
            except OSError as e:
                drop(c, "send: %s" % e)
                continue
            busy += 1
        if not timers and not busy:
            break
        timeout = max(0.0, timers[0][0] - now) if timers else 1.0
        if now > end + 10:
            errors.append("%d calls unanswered 10 s after the end" % busy)
            break
        for key, _ in sel.select(min(timeout, 1.0)):
            c = key.data
            got = time.perf_counter()
            try:
                d = c.sock.recv(1 << 17)
            except BlockingIOError:
                continue
            except OSError as e:
                drop(c, "recv: %s" % e)
                busy -= 1
                continue
            if not d:
                drop(c, "closed by the daemon")
                busy -= 1
                continue
            c.buf += d
            if not c.buf.endswith(b"\0"):
                continue
            msgs = c.buf.split(b"\0")[:-1]
            c.buf = b""
            for m in msgs:
                r = json.loads(m)
                if "error" in r:
                    errors.append("client %d: %s" % (c.n, r))
                lat[c.kind].append((got - c.sent_at) * 1e3)
            busy -= 1
            c.kind ^= 1
            # The next call in this client's phase: a late reply skips
            # slots rather than lining every client up behind a stall.
            nxt = c.sent_at + interval
            if interval <= 0:
                nxt = got  # closed loop: as fast as the replies come
            elif nxt < got:
                late += 1
                while nxt < got:
                    nxt += interval
            heapq.heappush(timers, (nxt, c.n, c))
    elapsed = time.perf_counter() - t0
    for c in clients:
        c.sock.close()
    every = lat[0] + lat[1]
    fig = {
        "clients": a.clients, "connected": len(clients), "seconds": round(elapsed, 1),
        "interval_ms": a.interval_ms, "calls": len(every), "errors": len(errors),
        "calls_per_s": round(len(every) / elapsed), "late": late,
        "ms": {"p50": round(percentile(every, 50), 2), "p99": round(percentile(every, 99), 2),
               "max": round(max(every or [0]), 2)},
        "status_p99_ms": round(percentile(lat[0], 99), 2),
        "list_p99_ms": round(percentile(lat[1], 99), 2),
    }
    print("clients500: %d clients for %.1f s: %d calls (%d/s), %d errors; latency p50 %.2f ms, "
          "p99 %.2f ms (GetStatus %.2f, jobs.List %.2f), max %.2f ms (limit p99 %d ms)"
          % (len(clients), elapsed, len(every), fig["calls_per_s"], len(errors),
             fig["ms"]["p50"], fig["ms"]["p99"], fig["status_p99_ms"], fig["list_p99_ms"],
             fig["ms"]["max"], a.p99_ms))
    print("FIGURES " + json.dumps(fig, sort_keys=True))
    for e in errors[:20]:
        print("FAIL: " + e, file=sys.stderr)
    ok = not errors and len(clients) == a.clients and fig["ms"]["p99"] <= a.p99_ms
    if fig["ms"]["p99"] > a.p99_ms:
        print("FAIL: p99 %.2f ms is above %d ms" % (fig["ms"]["p99"], a.p99_ms), file=sys.stderr)
    return 0 if ok else 1


def hold(a):
    kept, counts, messages = [], {"accepted": 0, "refused": 0, "untold": 0}, {}
    for n in range(a.hold):
        try:
            c = Conn(a.socket, timeout=5)
        except OSError as e:
            counts["untold"] += 1
            messages["connect: %s" % e] = messages.get("connect: %s" % e, 0) + 1
            continue
        try:
            try:
                c.send(GET_STATUS)
            except (BrokenPipeError, ConnectionResetError):
                pass  # refused before the call: its answer is still there
            r = c.recv()
        except (Closed, OSError) as e:
            counts["untold"] += 1
            c.close()
            continue
        if "error" not in r:
            counts["accepted"] += 1
            kept.append(c)
            continue
        msg = "%s: %s" % (r["error"], r.get("parameters", {}).get("message"))
        c.sock.settimeout(1)
        try:
            c.recv()
            msg += " (then another message)"
        except socket.timeout:
            msg += " (and the connection stayed open)"
        except (Closed, OSError):
            pass
        c.close()
        counts["refused" if r["error"] == BUSY else "untold"] += 1
        messages[msg] = messages.get(msg, 0) + 1
    print("accepted %d refused %d untold %d messages %s"
          % (counts["accepted"], counts["refused"], counts["untold"], json.dumps(messages)))
    sys.stdout.flush()
    sys.stdin.read()  # hold until told
    for c in kept:
        c.close()
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--socket", required=True)
    ap.add_argument("--clients", type=int, default=500)
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--interval-ms", type=int, default=100)
    ap.add_argument("--p99-ms", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--hold", type=int)
    a = ap.parse_args()
    sys.exit(hold(a) if a.hold else load(a))


if __name__ == "__main__":
    main()
