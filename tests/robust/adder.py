#!/usr/bin/env python3
"""adder.py SOCKET PREFIX COUNT [WINDOW] - adds jobs PREFIX-0 ...
PREFIX-(COUNT-1) (kind hello, @daily) with up to WINDOW calls pipelined
on one connection, and prints each name on stdout, flushed, as soon as
its Add is acknowledged (a reply without error: committed, PROTOCOL.md).
It stops at COUNT, or when the daemon goes away (kill9_runs.sh kills it
mid-way).  An error reply is printed on stderr and makes the exit status
1; a lost connection is not an error."""
import sys

from vl import JOBS_ADD, Closed, Conn


def main():
    path, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    window = int(sys.argv[4]) if len(sys.argv) > 4 else 32
    try:
        c = Conn(path, timeout=30)
    except OSError as e:
        print("adder: cannot connect: %s" % e, file=sys.stderr)
        return 0
    sent = acked = errors = 0

    def send_one():
        nonlocal sent
        c.send(JOBS_ADD, {"name": "%s-%d" % (prefix, sent), "kind": "hello",
                          "schedule": "@daily", "args": {"message": "x"}})
        sent += 1

    try:
        while sent < min(window, count):
            send_one()
        while acked + errors < sent:
            r = c.recv()
            name = "%s-%d" % (prefix, acked + errors)
            if "error" in r:
                errors += 1
                print("adder: %s: %r" % (name, r), file=sys.stderr)
            else:
                acked += 1
                sys.stdout.write(name + "\n")
                sys.stdout.flush()
            if sent < count:
                send_one()
    except (Closed, OSError, ValueError):
        pass  # the daemon was killed
    print("adder: %s: %d sent, %d acknowledged, %d errors"
          % (prefix, sent, acked, errors), file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
