"""redis-py's client-side caching (RESP3 + CLIENT TRACKING) against a 6-node cluster.

Run by crates/server/tests/tracking_clients.rs with the port of one node of a 6-node
cluster (3 primaries, 3 replicas), once against Rubra and once against redis-server 7.0.
Every check is an assert; any failure exits non-zero with a traceback.

redis-py enables caching only when HELLO reports "redis" >= 7.4 (its own support policy:
the tracking protocol it uses, `CLIENT TRACKING ON` + RESP3 invalidation pushes, is the
one of Redis 6.0). Both servers here report 7.0.15, so the script lowers that gate and
changes nothing else in the client.

What it proves, on every primary's slots:
- a second read of a cached key reaches no server (GET calls in INFO commandstats of all
  six nodes do not move), and the cache holds one entry per key;
- a write by ANOTHER client invalidates the entry (RESP3 push) and the next read returns
  the new value; so do DEL and EXPIRE reaching the key;
- FLUSHALL empties the client's cache (null invalidation);
- after a manual CLUSTER FAILOVER of every shard, and after a slot is moved to another
  primary (MIGRATE), cached reads are still correct and later writes still invalidate.
"""

import sys
import time

import redis
from redis.cache import CacheConfig, CacheFactory
from redis.cluster import RedisCluster
from redis.connection import CacheProxyConnection

CacheProxyConnection.MIN_ALLOWED_VERSION = "7.0.0"

port = int(sys.argv[1])
cache = CacheFactory(CacheConfig(max_size=10_000)).get_cache()
rc = RedisCluster(host="127.0.0.1", port=port, protocol=3, cache=cache, decode_responses=True)
# The writer: another client (RESP2, no cache), its own connections.
other = RedisCluster(host="127.0.0.1", port=port, decode_responses=True)
assert len(rc.get_primaries()) == 3, rc.get_nodes()

keys = [f"user:{i}" for i in range(60)]
owners = {other.get_node_from_key(k).name for k in keys}
assert len(owners) == 3, owners  # every primary's slots are in play


def get_calls():
    """GET calls served by all six nodes, from INFO commandstats."""
    total = 0
    for stats in other.info("commandstats", target_nodes=RedisCluster.ALL_NODES).values():
        total += stats.get("cmdstat_get", {}).get("calls", 0)
    return total


def eventually(key, want, within=3.0):
    """The caching client's read of `key` returns `want` before `within` seconds pass.

    Invalidation pushes travel on the caching client's own connection, apart from the
    writer's reply, so the first read after a write may still see the old value for a
    moment (as with Redis); it must never stay stale."""
    deadline = time.time() + within
    got = rc.get(key)
    while got != want and time.time() < deadline:
        time.sleep(0.02)
        got = rc.get(key)
    assert got == want, (key, got, want)


def cached_keys():
    """The Redis keys the client currently holds in its cache."""
    held = set()
    for cache_key in list(cache.collection.keys()):
        held.update(cache_key.redis_keys)
    return held


# --- cached reads reach no server -----------------------------------------------------
for k in keys:
    other.set(k, "v1")
for k in keys:
    assert rc.get(k) == "v1"
assert cached_keys() == set(keys), cached_keys() ^ set(keys)
before = get_calls()
for _ in range(3):
    for k in keys:
        assert rc.get(k) == "v1"
assert get_calls() == before, ("cached reads reached a server", get_calls() - before)

# --- a write by another client invalidates, on every primary's slots ---------------------
before = get_calls()
for k in keys:
    other.set(k, "v2")
for k in keys:
    eventually(k, "v2")
assert get_calls() >= before + len(keys), "every invalidated key was read again"
before = get_calls()
for k in keys:
    assert rc.get(k) == "v2"
assert get_calls() == before, "cached again after the re-read"

# DEL and an expiry are writes too.
other.delete(keys[0])
eventually(keys[0], None)
other.set(keys[1], "short", px=100)
eventually(keys[1], "short")
time.sleep(0.3)
eventually(keys[1], None)  # the expiry invalidates (the re-read itself may expire it)

# --- FLUSHALL ----------------------------------------------------------------------------
for k in keys:
    other.set(k, "v3")
for k in keys:
    eventually(k, "v3")
assert len(cached_keys()) == len(keys)
other.flushall()  # redis-py sends it to every primary
for k in keys:
    eventually(k, None)
# None is not cached by redis-py; what is left in the cache must be nothing stale.
assert cached_keys() == set(), cached_keys()

# --- failover of every shard --------------------------------------------------------------
for k in keys:
    other.set(k, "before-failover")
for k in keys:
    eventually(k, "before-failover")


def direct(addr):
    """A plain connection to one node (no cluster routing)."""
    host, p = addr.rsplit(":", 1)
    return redis.Redis(host=host, port=int(p), decode_responses=True)


def nodes_of(addr):
    """CLUSTER NODES as seen by one node: {"ip:port": (id, flags, primary id, has slots)}."""
    view = {}
    for line in direct(addr).execute_command("CLUSTER", "NODES").splitlines():
        f = line.split(" ")
        view[f[1].split("@")[0]] = (f[0], f[2].split(","), f[3], len(f) > 8)
    return view


def primaries_seen_by_all():
    """The set of slot-owning primaries if all six nodes agree on it and on the current
    epoch, else None. (A replica that starts an election before it has learned the epoch
    of the previous one asks for votes in an epoch its voters already voted in, and its
    manual failover fails, in Redis too.)"""
    views = set()
    epochs = set()
    for a in all_addrs:
        views.add(frozenset(x for x, v in nodes_of(a).items() if "master" in v[1] and v[3]))
        epochs.add(direct(a).cluster("INFO")["cluster_current_epoch"])
    return next(iter(views)) if len(views) == 1 and len(epochs) == 1 else None


# Right after `--cluster create` a replica may still show as an empty primary in some
# views until gossip spreads its CLUSTER REPLICATE: wait for 3 primaries and 3 replicas.
deadline = time.time() + 30
while True:
    view = nodes_of(f"127.0.0.1:{port}")
    replicas = [a for a, v in view.items() if "slave" in v[1]]
    primaries = [a for a, v in view.items() if "master" in v[1] and v[3]]
    if len(replicas) == 3 and len(primaries) == 3:
        break
    assert time.time() < deadline, view
    time.sleep(0.1)
all_addrs = sorted(view)
assert len(all_addrs) == 6, view
old_primaries = set(primaries)
# One shard at a time, as an operator (or `rubra failover`) does: concurrent manual
# failovers compete for the same votes and may fail, in Redis too.
retries = 0
for addr in sorted(old_primaries):
    replica = next(a for a, v in view.items() if v[2] == view[addr][0])
    # A manual failover whose election fails (a vote lost to a race; seen on redis-server
    # under load) is not retried by the node before 2 * max(2 * node timeout, 2 s): the
    # operator asks again, as here after 13 s (the Rust side sets node timeout 3 s).
    done = False
    for attempt in range(3):
        assert direct(replica).execute_command("CLUSTER", "FAILOVER") in (True, "OK")
        deadline = time.time() + 13
        while time.time() < deadline:
            seen = primaries_seen_by_all()
            if seen is not None and replica in seen and addr not in seen:
                done = True
                break
            time.sleep(0.1)
        if done:
            break
        retries += 1
    assert done, ("failover of", addr, "to", replica, "never completed",
                  {a: nodes_of(a) for a in all_addrs})
assert not (primaries_seen_by_all() & old_primaries)
# The cache still answers with the right values, without asking any server: the entries
# are tracked on connections to the demoted primaries ...
before = get_calls()
for k in keys:
    assert rc.get(k) == "before-failover"
assert get_calls() == before, "the failover emptied the cache: nothing left to prove"
# ... and a write through the new primaries invalidates entries cached from the old ones
# (the demoted primaries apply the write by replication and invalidate their trackers).
for k in keys:
    other.set(k, "after-failover")
for k in keys:
    eventually(k, "after-failover", within=10.0)
for k in keys:
    other.set(k, "after-failover-2")
for k in keys:
    eventually(k, "after-failover-2")

# --- a slot moved to another primary --------------------------------------------------------
moved = keys[2]
slot = other.keyslot(moved)
source = other.get_node_from_key(moved)
target = next(n for n in other.get_primaries() if n.name != source.name)
assert rc.get(moved) == "after-failover-2"  # cached, tracked on the source
src = other.get_redis_connection(source)
dst = other.get_redis_connection(target)
src_id = src.execute_command("CLUSTER", "MYID")
dst_id = dst.execute_command("CLUSTER", "MYID")
dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
while True:
    batch = src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100)
    if not batch:
        break
    src.execute_command(
        "MIGRATE", target.host, target.port, "", 0, 5000, "KEYS", *batch
    )
for node in other.get_primaries():
    other.get_redis_connection(node).execute_command(
        "CLUSTER", "SETSLOT", slot, "NODE", dst_id
    )
# MIGRATE deleted the key on the source, which invalidates the entry tracked there; the
# next read follows MOVED to the new owner and is tracked there, so a write on the new
# owner reaches the client.
assert moved not in {k for k in src.keys("*")}
eventually(moved, "after-failover-2", within=10.0)
assert moved in cached_keys()
other.set(moved, "after-move")
eventually(moved, "after-move", within=10.0)
other.set(moved, "after-move-2")
eventually(moved, "after-move-2")
before = get_calls()
assert rc.get(moved) == "after-move-2"
assert get_calls() == before, "cached again after the move"

print(f"ok: redis-py client-side caching (failovers asked again: {retries})")
