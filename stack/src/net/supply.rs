//! Where a closed socket for a new listener or connection comes from, and moving sockets
//! between shards (a socket's handle belongs to one shard's set).

use smoltcp::iface::SocketHandle;

use crate::pool::Census;
use crate::shard::Shard;

/// A closed socket in shard `index`, cheapest source first: its own free list, another
/// shard's free list (moved over, so freed buffers are reused before new ones are
/// allocated), a new socket if the cap has room, a TIME-WAIT socket of its own or of another
/// shard cut short (see [`Shard::reap_time_wait`]).
pub(super) fn socket_for(
    shards: &mut [Shard],
    census: &mut Census,
    index: usize,
) -> Option<SocketHandle> {
    if shards[index].pool.free() > 0 || census.free == 0 {
        let shard = &mut shards[index];
        if let Some(handle) = shard.pool.take_socket(&mut shard.sockets, census) {
            return Some(handle);
        }
    } else if let Some(other) = shards.iter().position(|s| s.pool.free() > 0) {
        let from = &mut shards[other];
        if let Some((socket, slot)) = from.pool.give_free(&mut from.sockets, census) {
            let to = &mut shards[index];
            return Some(to.pool.adopt(&mut to.sockets, socket, slot));
        }
    }
    if let Some(handle) = shards[index].reap_time_wait() {
        return Some(handle);
    }
    // Any other shard with a TIME-WAIT socket: the first one with draining sockets may hold
    // only sockets whose RST is still to go out.
    for other in (0..shards.len()).filter(|&o| o != index) {
        if let Some(handle) = shards[other].reap_time_wait() {
            return Some(move_socket(shards, other, handle, index));
        }
    }
    None
}

/// Closes a listener, of shard `index` if it has one, else of any shard, and hands its socket
/// to shard `index`: for a connection that may not grow the socket count.
pub(super) fn steal_listener(
    shards: &mut [Shard],
    census: &mut Census,
    index: usize,
) -> Option<SocketHandle> {
    let from = if shards[index].pool.listeners() > 0 {
        index
    } else {
        shards.iter().position(|s| s.pool.listeners() > 0)?
    };
    let shard = &mut shards[from];
    let handle = shard.pool.steal_listener(&mut shard.sockets, census)?;
    Some(move_socket(shards, from, handle, index))
}

/// Moves a closed socket from one shard's set to another's; its handle changes.
pub(super) fn move_socket(
    shards: &mut [Shard],
    from: usize,
    handle: SocketHandle,
    to: usize,
) -> SocketHandle {
    if from == to {
        return handle;
    }
    let from = &mut shards[from];
    let (socket, slot) = from.pool.detach(&mut from.sockets, handle);
    let to = &mut shards[to];
    to.pool.adopt(&mut to.sockets, socket, slot)
}
