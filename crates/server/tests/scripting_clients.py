"""Real client code built on Lua scripts, unchanged, against a Rubra cluster.

Run by crates/server/tests/scripting_clients.rs with the port of one node of a 6-node
cluster. Every check is an assert; any failure exits non-zero with a traceback.

- redis-py's Lock: acquire is SET NX PX, extend / reacquire / release are Lua scripts run
  with EVALSHA (redis-py's Script falls back to SCRIPT LOAD on NOSCRIPT).
- redis-py's register_script, across slots, and after SCRIPT FLUSH on every node.
- the `limits` rate-limiting library (PyPI) with its redis-cluster storage: the moving
  window and sliding window strategies are Lua scripts (register_script -> EVALSHA).
"""

import sys
import threading
import time

import redis
from redis.cluster import RedisCluster
from redis.exceptions import LockNotOwnedError

import limits
from limits import RateLimitItemPerMinute
from limits.storage import storage_from_string
from limits.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    SlidingWindowCounterRateLimiter,
)

port = int(sys.argv[1])
rc = RedisCluster(host="127.0.0.1", port=port, decode_responses=True)
assert len(rc.get_primaries()) == 3, rc.get_nodes()


sent = []
_execute = rc.execute_command


def observed(*args, **kwargs):
    """Notes each command name the client sends (observation only, the call is unchanged)."""
    sent.append(str(args[0]).upper())
    return _execute(*args, **kwargs)


rc.execute_command = observed


def evalsha_calls():
    return sent.count("EVALSHA")


# --- redis-py Lock -------------------------------------------------------------------
before = evalsha_calls()
lock = rc.lock("lock:{orders}", timeout=5, blocking_timeout=1)
assert lock.acquire(), "first acquire"
rival = rc.lock("lock:{orders}", timeout=5, blocking_timeout=0.2)
assert not rival.acquire(), "a held lock cannot be taken"
assert lock.owned()
assert lock.extend(10), "extend (Lua)"
ttl = rc.pttl("lock:{orders}")
assert 10_000 < ttl <= 15_000, ttl
assert lock.extend(3, replace_ttl=True)
assert rc.pttl("lock:{orders}") <= 3_000
assert lock.reacquire(), "reacquire (Lua)"
assert 3_000 < rc.pttl("lock:{orders}") <= 5_000
lock.release()
assert rc.get("lock:{orders}") is None
assert rival.acquire(), "free after release"
rival.release()

# Releasing or extending a lock someone else now holds fails, as the scripts decide.
stolen = rc.lock("lock:stolen", timeout=5)
assert stolen.acquire()
rc.set("lock:stolen", "someone-else")
try:
    stolen.release()
    raise AssertionError("released a lock we do not own")
except LockNotOwnedError:
    pass
assert rc.get("lock:stolen") == "someone-else"
stolen2 = rc.lock("lock:stolen2", timeout=5)
assert stolen2.acquire()
rc.set("lock:stolen2", "someone-else")
try:
    stolen2.extend(5)
    raise AssertionError("extended a lock we do not own")
except LockNotOwnedError:
    pass
assert rc.pttl("lock:stolen2") == -1, "the extend script did not touch it"

# Mutual exclusion under contention: a read-modify-write guarded by the lock loses nothing.
def worker():
    for _ in range(25):
        with rc.lock("lock:{counter}", timeout=5, blocking_timeout=30, sleep=0.001):
            v = int(rc.get("{counter}:value") or 0)
            rc.set("{counter}:value", v + 1)

threads = [threading.Thread(target=worker) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert rc.get("{counter}:value") == "100", rc.get("{counter}:value")
assert evalsha_calls() > before, "the lock's scripts ran as EVALSHA"

# --- register_script -----------------------------------------------------------------
incr_by = rc.register_script(
    "local v = redis.call('INCRBY', KEYS[1], ARGV[1]) return {v, redis.call('TTL', KEYS[1])}"
)
keys = [f"script-key-{i}" for i in range(60)]  # spread over all three shards
slots_owners = {rc.get_node_from_key(k).name for k in keys}
assert len(slots_owners) == 3, slots_owners
for k in keys:
    assert incr_by(keys=[k], args=[2]) == [2, -1]
for k in keys:
    assert incr_by(keys=[k], args=[3]) == [5, -1]
# SCRIPT FLUSH on every node: the next call gets NOSCRIPT, loads and retries.
rc.script_flush()  # redis-py sends it to every node
assert rc.script_exists(incr_by.sha) == [False]  # asked of every primary
del sent[:]
assert incr_by(keys=[keys[0]], args=[1]) == [6, -1]
assert sent == ["EVALSHA", "SCRIPT LOAD", "EVALSHA"], sent
assert rc.script_exists(incr_by.sha) == [True]
assert rc.get(keys[0]) == "6"
multi = rc.register_script("return redis.call('MGET', KEYS[1], KEYS[2])")
rc.set("{u1}:a", "x")
rc.set("{u1}:b", "y")
assert multi(keys=["{u1}:a", "{u1}:b"]) == ["x", "y"]
try:
    multi(keys=["a-key", "another-key"])
    raise AssertionError("cross-slot keys accepted")
except redis.exceptions.RedisClusterException:
    pass  # redis-py refuses keys of several slots before sending

# --- limits (PyPI) on the cluster ----------------------------------------------------
storage = storage_from_string(f"redis+cluster://127.0.0.1:{port}")
assert storage.check(), "limits storage reachable"
five = RateLimitItemPerMinute(5)
for strategy in (MovingWindowRateLimiter, SlidingWindowCounterRateLimiter, FixedWindowRateLimiter):
    limiter = strategy(storage)
    name = strategy.__name__
    for i in range(5):
        assert limiter.hit(five, name, "alice"), (name, i)
    assert not limiter.hit(five, name, "alice"), name + ": sixth hit must be refused"
    assert not limiter.test(five, name, "alice"), name
    assert limiter.hit(five, name, "bob"), name + ": another identity is independent"
    stats = limiter.get_window_stats(five, name, "alice")
    assert stats.remaining == 0, (name, stats)
    assert stats.reset_time > time.time(), (name, stats)
    stats = limiter.get_window_stats(five, name, "bob")
    assert stats.remaining == 4, (name, stats)
    # cost > 1 consumes several slots at once (Lua loops in the moving window).
    assert limiter.hit(five, name, "carol", cost=3), name
    assert not limiter.hit(five, name, "carol", cost=3), name
    # The window strategies check before consuming; the fixed window counts refused hits.
    fixed = strategy is FixedWindowRateLimiter
    assert limiter.hit(five, name, "carol", cost=2) != fixed, name
    limiter.clear(five, name, "alice")
    assert limiter.hit(five, name, "alice"), name + ": cleared"

# Concurrent clients share one limit exactly.
shared = RateLimitItemPerMinute(50)
moving = MovingWindowRateLimiter(storage)
granted = []
lock_ = threading.Lock()

def hammer():
    mine = sum(1 for _ in range(30) if moving.hit(shared, "shared"))
    with lock_:
        granted.append(mine)

threads = [threading.Thread(target=hammer) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert sum(granted) == 50, granted
storage.reset()

print(f"ok: redis-py {redis.__version__}, limits {limits.__version__}")
