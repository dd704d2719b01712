"""vl.py - a small varlink client for the robustness tests (stdlib only).

A message is one JSON object terminated by a NUL byte (PROTOCOL.md).
Conn keeps what it has read past the last NUL, so pipelined replies are
returned one at a time.  Also: the daemon's resident memory and open
descriptors from /proc, and percentiles.
"""
import json
import os
import socket
import time

GET_STATUS = "io.loopd.daemon.GetStatus"
JOBS_LIST = "io.loopd.jobs.List"
JOBS_ADD = "io.loopd.jobs.Add"
JOBS_PREVIEW = "io.loopd.jobs.Preview"
PERMISSION_DENIED = "org.varlink.service.PermissionDenied"
BUSY = "io.loopd.daemon.Busy"
INVALID_PARAMETER = "org.varlink.service.InvalidParameter"


class Closed(Exception):
    """The daemon closed the connection (EOF or reset)."""


class Conn:
    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""

    def close(self):
        self.sock.close()

    def fileno(self):
        return self.sock.fileno()

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, method, params=None, **flags):
        msg = {"method": method}
        if params is not None:
            msg["parameters"] = params
        msg.update(flags)
        self.sock.sendall(json.dumps(msg).encode() + b"\0")

    def recv_raw(self):
        """The next message's bytes (without its NUL); Closed at EOF."""
        while True:
            i = self.buf.find(b"\0")
            if i >= 0:
                msg, self.buf = self.buf[:i], self.buf[i + 1:]
                return msg
            try:
                d = self.sock.recv(1 << 16)
            except (ConnectionResetError, BrokenPipeError) as e:
                raise Closed(str(e))
            if not d:
                raise Closed("EOF")
            self.buf += d

    def recv(self):
        return json.loads(self.recv_raw())

    def call(self, method, params=None, **flags):
        self.send(method, params, **flags)
        return self.recv()


def get_status_ms(path, timeout=5.0):
    """GetStatus on a fresh connection: (milliseconds, reply)."""
    t0 = time.perf_counter()
    c = Conn(path, timeout)
    try:
        r = c.call(GET_STATUS)
    finally:
        c.close()
    return (time.perf_counter() - t0) * 1e3, r


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for pid %d" % pid)


def nfds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def fd_list(pid):
    out = []
    for fd in sorted(os.listdir("/proc/%d/fd" % pid), key=int):
        try:
            out.append("%s -> %s" % (fd, os.readlink("/proc/%d/fd/%s" % (pid, fd))))
        except OSError:
            pass
    return out


def percentile(values, p):
    """The p-th percentile (nearest rank) of values, or 0.0 if empty."""
    if not values:
        return 0.0
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]
