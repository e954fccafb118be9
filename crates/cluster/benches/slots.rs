//! Micro-benchmarks of what the cluster core does per request and per bus message: the
//! redirect decision, slot ownership changes (every SETSLOT of a reshard), and the
//! per-owner questions asked on every bus message. Run with `cargo bench -p rubra-cluster`.

use rubra_cluster::redirect::{decide, DownPolicy, Request};
use rubra_cluster::state::{flags, ClusterState, NodeInfo};
use rubra_cluster::{NodeId, SLOT_COUNT};
use std::hint::black_box;
use std::time::Duration;

#[path = "../../resp/benches/support/harness.rs"]
mod harness;
use harness::bench;

fn id(i: u8) -> NodeId {
    NodeId::from_bytes(&[b'a' + i; 40]).expect("40 bytes")
}

/// Six primaries splitting the slots evenly, as after `redis-cli --cluster create`.
fn six_primaries() -> ClusterState {
    let mut st = ClusterState::new(id(0), 0);
    for i in 1..6 {
        st.nodes
            .insert(id(i), NodeInfo::new(id(i), flags::MASTER, 0));
    }
    for s in 0..SLOT_COUNT {
        st.slots.set(s, Some(id((s * 6 / SLOT_COUNT) as u8)));
    }
    st
}

fn main() {
    let budget = Duration::from_millis(500);
    let mut st = six_primaries();
    let local = [100u16];
    let remote = [16000u16];
    for (name, slots) in [("decide: local key", &local), ("decide: MOVED", &remote)] {
        let req = Request {
            key_slots: slots,
            ..Request::default()
        };
        bench(name, budget, || {
            black_box(decide(&st, true, DownPolicy::default(), &req, || 0));
        });
    }
    bench("slots.set: move one slot and back", budget, || {
        st.slots.set(black_box(5), Some(id(1)));
        st.slots.set(black_box(5), Some(id(0)));
    });
    bench("slots.ranges_of one owner", budget, || {
        black_box(st.slots.ranges_of(&id(3)));
    });
    bench("slots_of (bus header bitmap)", budget, || {
        black_box(st.slots_of(&id(2)));
    });
}
