#!/usr/bin/env python3
"""RESP SET commands for redis-cli --pipe: the same keys and 256 B values as bench.exs."""
import sys

n = int(sys.argv[1])
size = 256
out = sys.stdout.buffer
buf = []
for i in range(n):
    key = b"key:%d" % i
    head = b"v%d.0:" % i
    val = head + b"x" * (size - len(head))
    buf.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(val), val))
    if len(buf) == 10000:
        out.write(b"".join(buf))
        buf = []
out.write(b"".join(buf))
