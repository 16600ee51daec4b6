//! Arbitrary frames through the virtio-net header code of an offloading TUN: what the kernel
//! hands us (`accept_ingress`: header checks, partial-checksum completion, TCP checksum
//! verification) and what we hand the kernel (`prepare_egress` for a packet smoltcp built, with
//! or without a segment size). Beyond "never panics": a frame accepted after its checksum was
//! completed is accepted again unchanged (completion is idempotent and leaves a valid
//! checksum), and egress never changes the frame's length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stack::device::vnet::{HEADER_LEN, TcpChecksum, accept_ingress, prepare_egress};
use stack::packet::Headers;

/// The headers of the packet in `frame`, read as the port reads them.
fn headers_of(frame: &[u8]) -> Headers {
    frame
        .get(HEADER_LEN..)
        .map_or(Headers::Unreadable, Headers::parse)
}

fuzz_target!(|input: &[u8]| {
    let Some((&selector, frame)) = input.split_first() else {
        return;
    };
    if selector & 1 == 0 {
        let mut frame = frame.to_vec();
        let headers = headers_of(&frame);
        if let Ok(first) = accept_ingress(&mut frame, &headers) {
            if first.checksum == TcpChecksum::Completed {
                let packet = frame[HEADER_LEN..].to_vec();
                // The same packet, now with a full checksum and a header that vouches for
                // nothing: our own verification must agree with the completion.
                let mut plain = vec![0u8; HEADER_LEN];
                plain.extend_from_slice(&packet);
                let headers = headers_of(&plain);
                let again =
                    accept_ingress(&mut plain, &headers).expect("a completed checksum verifies");
                assert_eq!(again.checksum, TcpChecksum::Verified);
                assert_eq!(&plain[HEADER_LEN..], &packet[..]);
            }
        }
    } else {
        let segment = (selector & 2 != 0).then_some(usize::from(selector >> 2) * 24 + 1);
        let mut frame = frame.to_vec();
        let len = frame.len();
        let headers = headers_of(&frame);
        let _ = prepare_egress(&mut frame, &headers, segment);
        assert_eq!(frame.len(), len);
    }
});
