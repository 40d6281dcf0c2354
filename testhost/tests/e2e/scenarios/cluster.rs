//! Pointed at a node of a Redis Cluster that does not own the key, Spin's outbound
//! Redis (a plain client, not a cluster one) gets `MOVED`. Both `/count` and `/readyz` must say
//! that this is a cluster node that does not serve the key, and where it is; pointed at the node
//! that owns it, the app counts.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::app::{App, AppOptions};
use crate::support::redis_server::{RedisOptions, RedisServer};
use crate::support::runtime::Target;
use crate::support::wait_for;

pub fn cluster_node_without_the_key_is_named(target: &Target) {
    let nodes = cluster_of_three();
    let owns = |node: &RedisServer| {
        redis::cmd("GET")
            .arg("visits")
            .query::<Option<String>>(&mut node.conn())
            .is_ok()
    };
    let owner = nodes
        .iter()
        .find(|n| owns(n))
        .expect("one node owns `visits`");
    let other = nodes.iter().find(|n| !owns(n)).expect("two nodes do not");

    let app = App::start(target, &AppOptions::on(other));
    let named = format!(
        "Redis at 127.0.0.1:{} is a Redis Cluster node that does not serve key 'visits' (the \
         key's slot is served by 127.0.0.1:{}): point redis_host and redis_port at that node, or \
         at a cluster-aware proxy",
        other.port, owner.port
    );
    for path in ["/count", "/readyz"] {
        app.get(path).assert_text(500, &named);
    }

    let app = App::start(target, &AppOptions::on(owner));
    app.get("/readyz").assert_text(200, "ready");
    assert_eq!(app.count(), 1);
    assert_eq!(owner.get("visits").as_deref(), Some("1"));
}

/// Three masters (no replicas) made into one cluster by `redis-cli --cluster create`, once every
/// node says `cluster_state:ok`.
fn cluster_of_three() -> Vec<RedisServer> {
    let nodes: Vec<RedisServer> = (0..3)
        .map(|_| {
            RedisServer::start_with(RedisOptions {
                cluster: true,
                ..RedisOptions::default()
            })
        })
        .collect();
    let status = Command::new("redis-cli")
        .arg("--cluster")
        .arg("create")
        .args(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)))
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .expect("redis-cli is installed with redis-server");
    assert!(status.success(), "redis-cli --cluster create: {status}");
    for node in &nodes {
        wait_for("the cluster to be ok", Duration::from_secs(20), || {
            let info: String = node.query(redis::cmd("CLUSTER").arg("INFO"));
            info.contains("cluster_state:ok").then_some(())
        })
        .unwrap();
    }
    nodes
}
