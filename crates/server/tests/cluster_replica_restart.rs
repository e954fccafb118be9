//! A replica killed with SIGKILL and started again from its nodes.conf replicates from
//! its primary again (Redis's clusterCron rule: a replica that replicates from no one
//! starts once its primary's address is known) and catches up with the writes it missed.

mod common;
use common::cluster::*;
use common::*;
use std::time::Duration;

#[test]
fn a_replica_restarted_from_nodes_conf_replicates_again() {
    let mut nodes = make_cluster(6, 1, &["--cluster-node-timeout", "2000"]);
    let view = parse_nodes(&nodes[0].cli(&["cluster", "nodes"]));
    let replica = view
        .iter()
        .find(|n| n.has("slave"))
        .expect("a replica")
        .clone();
    let primary = view
        .iter()
        .find(|n| n.id == replica.master)
        .expect("its primary")
        .clone();
    let at = |a: &str| {
        nodes
            .iter()
            .position(|s| addr(s) == a)
            .expect("a node at the address")
    };
    let (ri, pi) = (at(&replica.addr), at(&primary.addr));
    let key = (0..)
        .map(|i| format!("k{i}"))
        .find(|k| {
            let s = rubra_keys::key_slot(k.as_bytes());
            primary.slots.iter().any(|&(a, b)| (a..=b).contains(&s))
        })
        .expect("a key of the primary");

    nodes[ri].kill9();
    assert_eq!(nodes[pi].cli(&["set", &key, "written-while-down"]), "OK");
    assert!(nodes[ri].restart(None), "the replica did not start again");

    let replica_info = |s: &TestServer| s.cli(&["info", "replication"]);
    assert!(
        wait_for(Duration::from_secs(20), || info_field_of(
            &replica_info(&nodes[ri]),
            "master_link_status"
        ) == "up"),
        "the restarted replica does not replicate: {}",
        replica_info(&nodes[ri])
    );
    assert_eq!(
        info_field_of(&replica_info(&nodes[ri]), "master_port"),
        primary.addr.rsplit(':').next().unwrap_or_default()
    );
    let mut conn = nodes[ri].conn();
    q(&mut conn, &["READONLY"]);
    assert!(
        wait_for(Duration::from_secs(10), || redis::cmd("GET")
            .arg(&key)
            .query::<Option<String>>(&mut conn)
            .ok()
            .flatten()
            .as_deref()
            == Some("written-while-down")),
        "the write made while the replica was down never reached it"
    );
}
