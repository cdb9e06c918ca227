#!/usr/bin/env python3
"""Writes, as RESP on stdout, the commands that fill the four benchmark collections
(h:big, z:big, l:big, s:big) with MEMBERS members each, named as redis-benchmark's
__rand_int__ names them (12 digits, zero padded), 100 members per command.
Usage: prefill.py MEMBERS | redis-cli -p PORT --pipe"""
import sys

members = int(sys.argv[1])
out = sys.stdout.buffer
PER = 100


def command(args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(parts)


for start in range(0, members, PER):
    ids = [b"%012d" % i for i in range(start, min(start + PER, members))]
    h, z, l, s = [b"HSET", b"h:big"], [b"ZADD", b"z:big"], [b"RPUSH", b"l:big"], [b"SADD", b"s:big"]
    for i in ids:
        h += [b"f:" + i, b"v:" + i]
        z += [i, b"m:" + i]  # score = the member's number: BYSCORE ranges spread evenly
        l.append(b"e:" + i)
        s.append(b"m:" + i)
    out.write(command(h) + command(z) + command(l) + command(s))
