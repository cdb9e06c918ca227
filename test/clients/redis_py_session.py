"""redis-py (>= 5) doing real work against a Redis-compatible server.

Usage: redis_py_session.py PORT PROTOCOL   (PROTOCOL is 2 or 3)
Exits 0 and prints "ok <n> checks" when every check passed; raises otherwise.
Run by test/clients/redis_py_test.exs against FerricStore.
"""
import sys
import time

import redis

port, protocol = int(sys.argv[1]), int(sys.argv[2])
r = redis.Redis(host="127.0.0.1", port=port, protocol=protocol)
checks = 0


def check(got, want):
    global checks
    checks += 1
    if got != want:
        raise AssertionError(f"check {checks}: got {got!r}, want {want!r}")


check(r.ping(), True)
r.flushall()

# Strings, binary-safe.
check(r.set("greeting", "hello"), True)
check(r.get("greeting"), b"hello")
check(r.set("bin\x00key", b"\x00\xff\r\n"), True)
check(r.get("bin\x00key"), b"\x00\xff\r\n")
check(r.set("greeting", "x", nx=True), None)
check(r.set("greeting", "hi", xx=True, get=True), b"hello")
check(r.append("greeting", "!"), 3)
check(r.strlen("greeting"), 3)
check(r.getrange("greeting", 0, 1), b"hi")
check(r.getdel("greeting"), b"hi!")
check(r.get("greeting"), None)

# Counters.
check(r.incr("n"), 1)
check(r.incrby("n", 41), 42)
check(r.decr("n"), 41)
check(r.incrbyfloat("f", 1.5), 1.5)
check(r.incrbyfloat("f", -0.25), 1.25)
try:
    r.incr("bin\x00key")
    raise AssertionError("INCR of a non-integer did not fail")
except redis.ResponseError as e:
    check(str(e), "value is not an integer or out of range")

# TTLs.
check(r.set("t", "v", ex=100), True)
check(0 < r.ttl("t") <= 100, True)
check(90_000 < r.pttl("t") <= 100_000, True)
check(r.expire("t", 200, gt=True), True)
check(r.expire("t", 50, gt=True), False)
check(r.persist("t"), True)
check(r.ttl("t"), -1)
check(r.ttl("missing"), -2)
check(r.set("short", "v", px=100), True)
time.sleep(0.3)
check(r.get("short"), None)
check(r.exists("short"), 0)
check(abs(r.expiretime("t")), 1)

# MSET / MGET.
check(r.mset({f"m{i}": i for i in range(10)}), True)
check(r.mget([f"m{i}" for i in range(10)] + ["missing"]),
      [str(i).encode() for i in range(10)] + [None])
check(r.msetnx({"m0": "x", "new": "y"}), False)

# SCAN.
r.mset({f"scan:{i}": "x" for i in range(500)})
check(sorted(r.scan_iter(match="scan:*", count=50)),
      sorted(f"scan:{i}".encode() for i in range(500)))
check(len(list(r.scan_iter(_type="string"))), r.dbsize())
check(sorted(r.keys("m?")), sorted(f"m{i}".encode() for i in range(10)))

# A pipeline of 1000 commands (non-transactional) and its replies, in order.
p = r.pipeline(transaction=False)
for i in range(500):
    p.set(f"p:{i}", i)
    p.incr("p:count")
replies = p.execute()
check(len(replies), 1000)
check(replies[0::2], [True] * 500)
check(replies[1::2], list(range(1, 501)))
check(r.get("p:count"), b"500")
check(r.get("p:499"), b"499")

# Type and delete.
check(r.type("n"), b"string")
check(r.delete("n", "f", "missing"), 2)
check(r.unlink("m0", "m1"), 2)

# Server commands that clients and tools call.
check(r.config_set("slowlog-log-slower-than", 0), True)
r.set("slow:key", "v")
entries = r.slowlog_get(10)
check(any(e["command"] == b"SET slow:key v" for e in entries), True)
check(r.slowlog_len() >= 1, True)
check(r.slowlog_reset(), True)
check(r.config_set("slowlog-log-slower-than", 10000), True)
stats = r.info("commandstats")
check(stats["cmdstat_set"]["calls"] >= 501, True)
check("usec_per_call" in stats["cmdstat_set"], True)
before = r.lastsave()
check(r.save(), True)
check(r.lastsave() >= before, True)
check(r.wait(0, 0), 0)
check("config|get" in [c.decode() if isinstance(c, bytes) else c for c in r.command_list()], True)

# Redis 7.0's multi-key pops and ZINTERCARD.
r.rpush("{q}:low", "a", "b", "c")
check(r.lmpop(2, "{q}:high", "{q}:low", direction="LEFT", count=2), [b"{q}:low", [b"a", b"b"]])
check(r.lmpop(1, "{q}:high", direction="RIGHT"), None)
r.zadd("{z}:board", {"ada": 10, "bob": 7.5})
key, [[member, score]] = r.zmpop(2, ["{z}:none", "{z}:board"], max=True)
# A double in RESP3, its text in RESP2 (redis-py converts neither for ZMPOP).
check((key, member, float(score)), (b"{z}:board", b"ada", 10.0))
r.zadd("{z}:a", {"x": 1, "y": 2})
r.zadd("{z}:b", {"y": 1})
check(r.zintercard(2, ["{z}:a", "{z}:b"]), 1)

print(f"ok {checks} checks (protocol {protocol})")
