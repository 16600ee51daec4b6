//! Connect/close churn: the server closes first, so every cycle leaves a server socket in
//! FIN-WAIT-1/2 and then TIME-WAIT. Thousands of cycles within one TIME-WAIT period must
//! never stall a SYN (no SYN-ACK and no RST) or refuse it while slots are only held by
//! closing sockets (bench finding: connects/s load stalled after ~1000 cycles).

mod common;

use common::*;
use stack::{ConnId, Duration, Instant, RecvError};

/// One client worker's current connection and when its connect was issued.
struct Worker {
    id: ConnId,
    started: Instant,
    got: usize,
    closed: bool,
}

fn churn(max_connections: usize, workers: usize, cycles: usize) {
    let mut server_config = config(SERVER_IP);
    server_config.max_connections = max_connections;
    server_config.max_per_source = 0;
    server_config.rx_buffer = 2048;
    server_config.tx_buffer = 2048;
    let mut client_config = config(CLIENT_IP);
    client_config.max_connections = 4 * workers;
    client_config.rx_buffer = 2048;
    client_config.tx_buffer = 2048;
    let mut pair = Pair::new(server_config, client_config);
    pair.server.listen(PORT).unwrap();
    pair.run_for(Duration::from_millis(10));
    let baseline = pair.server.stats();
    assert!(pair.server.shard_load().shards > 1 || max_connections < 128);

    let mut pool: Vec<Worker> = (0..workers)
        .map(|_| Worker {
            id: pair.client.connect(Pair::server_addr()).unwrap(),
            started: pair.now,
            got: 0,
            closed: false,
        })
        .collect();
    let mut started = workers;
    let mut done = 0;
    let mut slowest = Duration::ZERO;
    let mut failure: Option<String> = None;
    let ok = pair.run_until(Duration::from_secs(60), |p| {
        // Server application: greet, then close first (like a WebSocket close handshake).
        while let Some((sid, _)) = p.server.accept() {
            assert_eq!(p.server.send(sid, b"hello"), Ok(5));
            p.server.close(sid);
        }
        while p.server.poll_gone().is_some() {}
        for w in pool.iter_mut() {
            if w.id == ConnId(u64::MAX) || w.closed {
                continue;
            }
            if p.client.is_established(w.id) {
                let wait = p.now - w.started;
                slowest = slowest.max(wait);
            }
            loop {
                match p.client.recv(w.id, &mut [0u8; 16]) {
                    Ok(0) => break,
                    Ok(n) => w.got += n,
                    Err(RecvError::Closed) => {
                        w.closed = true;
                        p.client.close(w.id);
                        break;
                    }
                    Err(e) => {
                        failure.get_or_insert(format!(
                            "cycle {done}: connection failed with {e} after {} bytes, state \
                             {:?}, server {:?}",
                            w.got,
                            p.client.state(w.id),
                            p.server.stats()
                        ));
                        return true;
                    }
                }
            }
            if !w.closed && w.got == 0 && p.now - w.started > Duration::from_secs(1) {
                failure.get_or_insert(format!(
                    "cycle {done}: connect stuck for 1 s in {:?}, server {:?}",
                    p.client.state(w.id),
                    p.server.stats()
                ));
                return true;
            }
        }
        while let Some(gone) = p.client.poll_gone() {
            let Some(w) = pool.iter_mut().find(|w| w.id == gone) else {
                continue;
            };
            if !w.closed || w.got != 5 {
                failure.get_or_insert(format!(
                    "cycle {done}: connection ended early ({} bytes), server {:?}",
                    w.got,
                    p.server.stats()
                ));
                return true;
            }
            done += 1;
            if started < cycles {
                started += 1;
                *w = Worker {
                    id: p.client.connect(Pair::server_addr()).unwrap(),
                    started: p.now,
                    got: 0,
                    closed: false,
                };
            } else {
                w.id = ConnId(u64::MAX);
            }
        }
        done == cycles
    });
    if let Some(failure) = failure {
        panic!("{failure}");
    }
    assert!(ok, "only {done} of {cycles} cycles in 60 s");
    // The cycles ran well within one TIME-WAIT period: the cap had to be served by the
    // closing sockets, which is the point.
    eprintln!(
        "{cycles} cycles in {:?} simulated, slowest connect {:?}",
        pair.now, slowest
    );
    assert!(
        slowest < Duration::from_millis(100),
        "slowest connect {slowest:?}"
    );
    pair.run_for(Duration::from_secs(12));
    let stats = pair.server.stats();
    assert_eq!(
        (stats.connections, stats.draining, stats.listeners),
        (0, 0, baseline.listeners),
        "{stats:?}"
    );
    assert!(
        stats.sockets <= baseline.sockets + baseline.listeners,
        "{stats:?}"
    );
}

#[test]
fn server_first_close_churn_never_stalls_a_connect_one_shard() {
    churn(64, 10, 2000);
}

/// More cycles than the client has ephemeral ports (16 384): its ports come round again while
/// the server still holds TIME-WAIT sockets for the same 4-tuples, as a Linux client's do
/// after a few thousand connects.
#[test]
fn server_first_close_churn_never_stalls_a_connect_default_cap() {
    churn(1024, 10, 17_000);
}
