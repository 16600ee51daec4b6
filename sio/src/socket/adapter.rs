//! Rooms and broadcast recipients, behind the [`Adapter`] trait as in Socket.IO itself.
//!
//! Every socket is in the room named by its own id; the application adds others. A broadcast
//! names rooms (none: the whole namespace) and exceptions (rooms, a socket's own room for
//! "everyone but the sender"); the adapter answers with the local recipients.
//!
//! [`LocalAdapter`] keeps membership in this process. The trait is shaped for two more: one
//! per worker thread / TUN queue (membership local to the worker, broadcasts forwarded to the
//! other workers) and one speaking `@socket.io/redis-adapter`'s protocol, which publishes every
//! broadcast (`[uid, packet, opts]` on `socket.io#<nsp>#` or `socket.io#<nsp>#<room>#`) and
//! answers with the local recipients too. Both only need [`Adapter::broadcast`] to do more than
//! look up the local members.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;

use super::packet::Packet;

/// Whom a broadcast reaches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BroadcastOptions {
    /// Rooms whose members receive it; empty: every socket of the namespace.
    pub rooms: BTreeSet<String>,
    /// Rooms whose members do not (a socket id here excludes that socket).
    pub except: BTreeSet<String>,
}

impl BroadcastOptions {
    /// Every socket of the namespace.
    pub fn all() -> Self {
        BroadcastOptions::default()
    }

    /// The members of `room`.
    pub fn to(room: &str) -> Self {
        BroadcastOptions {
            rooms: [room.into()].into(),
            except: BTreeSet::new(),
        }
    }

    /// Also leaves out the members of `room` (a socket id: that socket).
    pub fn except(mut self, room: &str) -> Self {
        self.except.insert(room.into());
        self
    }
}

/// Room membership and broadcast fan-out for every namespace of a server.
pub trait Adapter {
    /// Adds socket `id` of namespace `nsp` to `room`.
    fn join(&mut self, nsp: &str, id: &str, room: &str);

    /// Removes socket `id` of namespace `nsp` from `room`.
    fn leave(&mut self, nsp: &str, id: &str, room: &str);

    /// Removes socket `id` of namespace `nsp` from every room (it disconnected).
    fn leave_all(&mut self, nsp: &str, id: &str);

    /// The rooms socket `id` of namespace `nsp` is in.
    fn rooms_of(&self, nsp: &str, id: &str) -> Vec<String>;

    /// Hands each local socket of namespace `nsp` that `options` selects to `each`, once.
    fn for_each_socket(&self, nsp: &str, options: &BroadcastOptions, each: &mut dyn FnMut(&str));

    /// The local sockets of namespace `nsp` that `options` selects, each once.
    fn sockets(&self, nsp: &str, options: &BroadcastOptions) -> Vec<String> {
        let mut sockets = Vec::new();
        self.for_each_socket(nsp, options, &mut |id| sockets.push(id.into()));
        sockets
    }

    /// A broadcast of `packet` in namespace `nsp`: hands the local recipients to `each` (no
    /// list of them is built: a broadcast to a thousand sockets costs no thousand copies of
    /// their ids). An adapter that spans processes also hands the packet to the others here.
    fn broadcast(
        &mut self,
        nsp: &str,
        packet: &Packet,
        options: &BroadcastOptions,
        each: &mut dyn FnMut(&str),
    ) {
        let _ = packet;
        self.for_each_socket(nsp, options, each);
    }
}

/// Membership of one namespace.
#[derive(Debug, Default, Clone)]
struct Rooms {
    /// room -> members
    members: BTreeMap<String, BTreeSet<String>>,
    /// socket -> its rooms
    rooms_of: BTreeMap<String, BTreeSet<String>>,
}

/// The in-process adapter: membership in this process only.
#[derive(Debug, Default, Clone)]
pub struct LocalAdapter {
    namespaces: BTreeMap<String, Rooms>,
}

impl LocalAdapter {
    /// An adapter with no members.
    pub fn new() -> Self {
        LocalAdapter::default()
    }
}

impl Adapter for LocalAdapter {
    fn join(&mut self, nsp: &str, id: &str, room: &str) {
        let rooms = self.namespaces.entry(nsp.into()).or_default();
        rooms
            .members
            .entry(room.into())
            .or_default()
            .insert(id.into());
        rooms
            .rooms_of
            .entry(id.into())
            .or_default()
            .insert(room.into());
    }

    fn leave(&mut self, nsp: &str, id: &str, room: &str) {
        let Some(rooms) = self.namespaces.get_mut(nsp) else {
            return;
        };
        if let Some(members) = rooms.members.get_mut(room) {
            members.remove(id);
            if members.is_empty() {
                rooms.members.remove(room);
            }
        }
        if let Some(of) = rooms.rooms_of.get_mut(id) {
            of.remove(room);
            if of.is_empty() {
                rooms.rooms_of.remove(id);
            }
        }
    }

    fn leave_all(&mut self, nsp: &str, id: &str) {
        for room in self.rooms_of(nsp, id) {
            self.leave(nsp, id, &room);
        }
    }

    fn rooms_of(&self, nsp: &str, id: &str) -> Vec<String> {
        self.namespaces
            .get(nsp)
            .and_then(|rooms| rooms.rooms_of.get(id))
            .map(|of| of.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn for_each_socket(&self, nsp: &str, options: &BroadcastOptions, each: &mut dyn FnMut(&str)) {
        let Some(rooms) = self.namespaces.get(nsp) else {
            return;
        };
        let excluded: BTreeSet<&String> = options
            .except
            .iter()
            .filter_map(|room| rooms.members.get(room))
            .flatten()
            .collect();
        let mut visit = |id: &String| {
            if !excluded.contains(id) {
                each(id);
            }
        };
        match options.rooms.len() {
            // Every socket, or one room's members: each once already, in order.
            0 => rooms.rooms_of.keys().for_each(&mut visit),
            1 => options
                .rooms
                .iter()
                .filter_map(|room| rooms.members.get(room))
                .flatten()
                .for_each(&mut visit),
            // Several rooms may share members: each once.
            _ => options
                .rooms
                .iter()
                .filter_map(|room| rooms.members.get(room))
                .flatten()
                .collect::<BTreeSet<&String>>()
                .into_iter()
                .for_each(&mut visit),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn rooms_select_and_except_exclude() {
        let mut adapter = LocalAdapter::new();
        for id in ["a", "b", "c"] {
            adapter.join("/", id, id);
        }
        adapter.join("/", "a", "red");
        adapter.join("/", "b", "red");
        adapter.join("/", "c", "blue");
        adapter.join("/other", "x", "x");
        assert_eq!(
            adapter.sockets("/", &BroadcastOptions::all()),
            ["a", "b", "c"]
        );
        assert_eq!(
            adapter.sockets("/", &BroadcastOptions::to("red")),
            ["a", "b"]
        );
        assert_eq!(
            adapter.sockets("/", &BroadcastOptions::to("red").except("a")),
            ["b"]
        );
        assert_eq!(
            adapter.sockets("/", &BroadcastOptions::all().except("red")),
            ["c"]
        );
        let two = BroadcastOptions {
            rooms: ["red".into(), "blue".into()].into(),
            except: BTreeSet::new(),
        };
        assert_eq!(adapter.sockets("/", &two), ["a", "b", "c"]);
        assert_eq!(adapter.rooms_of("/", "a"), vec!["a", "red"]);
        adapter.leave("/", "a", "red");
        assert_eq!(adapter.sockets("/", &BroadcastOptions::to("red")), ["b"]);
        adapter.leave_all("/", "b");
        assert_eq!(adapter.sockets("/", &BroadcastOptions::all()), ["a", "c"]);
        assert!(
            adapter
                .sockets("/nowhere", &BroadcastOptions::all())
                .is_empty()
        );
    }
}
