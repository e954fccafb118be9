//! ACL LOAD against redis-server 7.0: every user but the default one is replaced by a new
//! one, so the clients authenticated as those users are closed — the one that ran ACL LOAD
//! after its reply — while the default user's clients stay (unit/acl "ACL load and save").

mod common;
mod reference;
use common::TestServer;
use reference::{Incoming, RawConn, Reference};
use std::time::Duration;

const USERS: &str = "user alice on >alice ~* &* +@all\nuser default on nopass ~* &* +@all\n";

/// What each connection sees around an ACL LOAD run by one of alice's connections.
fn scenario(port: u16) -> Vec<String> {
    let mut loader = RawConn::connect(port);
    let mut other_alice = RawConn::connect(port);
    let mut default = RawConn::connect(port);
    let mut seen = Vec::new();
    for c in [&mut loader, &mut other_alice] {
        seen.push(String::from_utf8_lossy(&c.call("AUTH alice alice")).into_owned());
    }
    seen.push(String::from_utf8_lossy(&loader.call("ACL LOAD")).into_owned());
    for c in [&mut loader, &mut other_alice, &mut default] {
        c.send("PING");
        seen.push(match c.next_within(Duration::from_secs(3)) {
            Incoming::Frame(f) => String::from_utf8_lossy(&f).into_owned(),
            Incoming::Closed => "closed".into(),
            Incoming::Nothing => "nothing".into(),
        });
    }
    seen
}

#[test]
fn acl_load_closes_the_clients_of_replaced_users() {
    let dir = std::env::temp_dir().join(format!("rubra-aclload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (ours, theirs) = (dir.join("ours.acl"), dir.join("theirs.acl"));
    std::fs::write(&ours, USERS).expect("acl file");
    std::fs::write(&theirs, USERS).expect("acl file");
    let rubra = TestServer::start(&["--aclfile", &ours.to_string_lossy()]);
    let redis = Reference::start_with(&["--aclfile", &theirs.to_string_lossy()]);
    let (a, b) = (scenario(rubra.port), scenario(redis.port));
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(a, b, "rubra vs redis");
    assert_eq!(b[3..], ["closed", "closed", "+PONG\r\n"]);
}
