//! Frame header parsing: any bytes either fail to parse or parse into a header whose
//! emitted form parses back to the same header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ws::{FrameHeader, HeaderView};

fuzz_target!(|data: &[u8]| {
    let needed = HeaderView::required_len(data);
    let view = match HeaderView::new_checked(data) {
        Ok(view) => view,
        Err(truncated) => {
            assert!(data.len() < truncated.needed);
            assert_eq!(truncated.needed, needed);
            return;
        }
    };
    assert_eq!(view.header_len(), needed);
    if let Ok(header) = FrameHeader::parse(&view) {
        assert_eq!(header.payload_len(), view.payload_len());
        assert_eq!(header.masking_key(), view.masking_key());
        let emitted = header.to_bytes();
        assert_eq!(emitted.len(), header.header_len());
        assert!(emitted.len() <= view.header_len());
        let again = HeaderView::new_checked(&emitted).expect("emitted header is complete");
        assert_eq!(FrameHeader::parse(&again), Ok(header));
    }
});
