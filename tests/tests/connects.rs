//! A burst of 200 simultaneous connects is accepted and served, none refused.

use netns_tests::tungstenite::Message;
use netns_tests::{Netns, Tunws, read_data, require_root, ws_connect};
use std::sync::{Arc, Barrier};
use std::thread;

const CLIENTS: usize = 200;

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn two_hundred_simultaneous_clients_are_all_served() {
    require_root!();
    let ns = Netns::new("burst");
    let _tunws = Tunws::start(&ns, &[]);
    let failures = ns.run(|| {
        let start = Arc::new(Barrier::new(CLIENTS));
        let handles: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let start = Arc::clone(&start);
                // Threads spawned here inherit the namespace of this thread.
                thread::Builder::new()
                    .stack_size(256 * 1024)
                    .spawn(move || {
                        start.wait();
                        std::panic::catch_unwind(|| {
                            let mut ws = ws_connect("/echo");
                            let text = format!("client {i}");
                            ws.send(Message::text(text.as_str())).expect("send");
                            assert_eq!(read_data(&mut ws), Message::text(text));
                            ws
                        })
                        .map_err(|p| {
                            let msg = p
                                .downcast_ref::<String>()
                                .cloned()
                                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
                            format!("client {i}: {}", msg.unwrap_or_default())
                        })
                    })
                    .expect("spawn client thread")
            })
            .collect();
        // Keep every connection open until all have been served, so they are truly concurrent.
        let results: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().expect("client thread"))
            .collect();
        results
            .into_iter()
            .filter_map(Result::err)
            .collect::<Vec<_>>()
    });
    assert!(
        failures.is_empty(),
        "{} of {CLIENTS} clients failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
