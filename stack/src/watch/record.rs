//! Recording a packet: the flow it belongs to, the events built from it (see [`super::event`]),
//! and who gets them — the viewers that may see the connection, or its backlog while no
//! request has claimed it yet; plus the sweep that forgets quiet connections.

use std::sync::Arc;

use crate::middleware::Direction;

use super::event::{self, Dir, Stamp};
use super::flow::{self, Flow};
use super::{
    Backlog, ENDED_LINGER_US, Hub, IDLE_US, Kept, MAX_BACKLOG_EVENTS, MAX_FLOWS, MAX_PENDING_BYTES,
    Owner, Scope, TRACE_PATH, Tracked, deliver, is_valid_token, take_backlog, token_in,
};
use crate::packet::Headers;

impl Hub {
    pub(super) fn record(
        &mut self,
        scope: Scope,
        direction: Direction,
        packet: &[u8],
        headers: &Headers,
        t: i64,
        wire_drop: bool,
    ) {
        let dir = match direction {
            Direction::Ingress => Dir::In,
            Direction::Egress => Dir::Out,
        };
        if dir == Dir::Out {
            if wire_drop {
                return self.dropped_out(scope, headers);
            }
            // A drop reported next refers to this packet, shown or not.
            self.last_out = None;
        }
        let Some(seg) = headers.tcp() else {
            return;
        };
        self.now = t;
        if t - self.last_sweep > 1_000_000 {
            self.sweep(t);
        }
        let key = flow::key(dir, seg);
        if !self.flows.contains_key(&key) {
            if self.flows.len() >= MAX_FLOWS {
                return;
            }
            let owner = if self.trace_peers.contains(&key.0) {
                Owner::Trace
            } else {
                Owner::Pending(Backlog::default())
            };
            let id = self.next_flow;
            self.next_flow += 1;
            self.flows.insert(
                key,
                Tracked {
                    flow: Flow::new(id, dir, seg),
                    owner,
                },
            );
        }
        let Some(tracked) = self.flows.get_mut(&key) else {
            return;
        };
        match tracked.owner {
            Owner::Trace => return,
            Owner::Unwatched { settled: true } if scope == Scope::Own => {
                tracked.flow.last_seen = t;
                tracked.flow.ended |= seg.rst;
                return;
            }
            _ => {}
        }
        let stamp = Stamp {
            t,
            conn: tracked.flow.id,
            dir,
            pkt: self.next_pkt,
        };
        self.next_pkt += 1;
        let mut events = std::mem::take(&mut self.scratch);
        events.clear();
        let findings = tracked.flow.on_packet(
            stamp,
            seg,
            packet,
            wire_drop,
            &mut events,
            &mut self.held_room,
        );
        if dir == Dir::Out {
            self.last_out = Some((key, stamp));
        }
        // Whose is it? The first request says; later ones may claim an unclaimed connection.
        let mut claimed = None;
        for (path, cookie) in &findings.requests {
            let (route, query) = path.split_once('?').unwrap_or((path, ""));
            if route == TRACE_PATH {
                take_backlog(
                    std::mem::replace(&mut tracked.owner, Owner::Trace),
                    &mut self.pending_bytes,
                );
                self.scratch = events;
                return;
            }
            if claimed.is_none() {
                let from_cookie = cookie.as_deref().filter(|t| is_valid_token(t));
                claimed = token_in(query).or(from_cookie).map(Arc::<str>::from);
            }
        }
        let was_pending = matches!(tracked.owner, Owner::Pending(_));
        let backlog = match claimed {
            Some(token) if !matches!(tracked.owner, Owner::Token(_)) => take_backlog(
                std::mem::replace(&mut tracked.owner, Owner::Token(token)),
                &mut self.pending_bytes,
            ),
            _ if was_pending
                && (!findings.requests.is_empty()
                    || findings.no_more_requests
                    || tracked.flow.ended) =>
            {
                take_backlog(
                    std::mem::replace(&mut tracked.owner, Owner::Unwatched { settled: false }),
                    &mut self.pending_bytes,
                )
            }
            _ => None,
        };
        if findings.no_more_requests {
            if let Owner::Unwatched { settled } = &mut tracked.owner {
                *settled = true;
            }
        }
        let kept = (!wire_drop).then(|| Kept {
            t,
            bytes: Arc::from(packet),
        });
        if let Owner::Pending(backlog) = &mut tracked.owner {
            let added = events.iter().map(String::len).sum::<usize>()
                + kept.as_ref().map_or(0, |k| k.bytes.len());
            backlog.bytes += added;
            self.pending_bytes += added;
            backlog.events.extend(events.drain(..).map(Arc::from));
            backlog.packets.extend(kept);
            if backlog.events.len() > MAX_BACKLOG_EVENTS || self.pending_bytes > MAX_PENDING_BYTES {
                // Nobody claimed it in time (or in room): all-scope viewers get it from here.
                let backlog = take_backlog(
                    std::mem::replace(&mut tracked.owner, Owner::Unwatched { settled: false }),
                    &mut self.pending_bytes,
                );
                deliver(
                    &mut self.viewers,
                    scope,
                    &tracked.owner,
                    backlog.unwrap_or_default(),
                    None,
                );
            }
        } else {
            let backlog = backlog.unwrap_or_default();
            let now_events = Backlog {
                events: events.drain(..).map(Arc::from).collect(),
                packets: kept.into_iter().collect(),
                bytes: 0,
            };
            deliver(
                &mut self.viewers,
                scope,
                &tracked.owner,
                backlog,
                Some(now_events),
            );
        }
        self.scratch = events;
    }

    /// The impairment dropped the packet the stack just sent (the last one recorded).
    fn dropped_out(&mut self, scope: Scope, headers: &Headers) {
        let Some((key, stamp)) = self.last_out.take() else {
            return;
        };
        let Some(seg) = headers.tcp() else {
            return;
        };
        if flow::key(Dir::Out, seg) != key {
            return;
        }
        let Some(tracked) = self.flows.get_mut(&key) else {
            return;
        };
        let event: Arc<str> = event::dropped_out(stamp).into();
        match &mut tracked.owner {
            Owner::Pending(backlog) => backlog.events.push(event),
            owner => {
                for viewer in self.viewers.iter_mut().filter(|v| v.sees(scope, owner)) {
                    viewer.push(&event);
                }
            }
        }
    }

    /// Forgets connections that went quiet and viewers that lingered long enough.
    fn sweep(&mut self, t: i64) {
        self.last_sweep = t;
        self.expire_lingering();
        let (pending, room) = (&mut self.pending_bytes, &mut self.held_room);
        self.flows.retain(|_, tracked| {
            let limit = if tracked.flow.ended {
                ENDED_LINGER_US
            } else {
                IDLE_US
            };
            let keep = t - tracked.flow.last_seen < limit;
            if !keep {
                *room += tracked.flow.held_bytes();
                if let Owner::Pending(backlog) = &tracked.owner {
                    *pending -= backlog.bytes;
                }
            }
            keep
        });
    }
}
