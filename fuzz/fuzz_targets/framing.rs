//! The framing guard must never panic, and must follow any split of the same bytes the same
//! way: what it flags cannot depend on how the kernel happened to cut the reads.
#![no_main]

use freshgate::framing::Framer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut whole = Framer::default();
    let flagged_whole = whole.feed(data);
    // The same bytes in reads cut at positions chosen by the input's first byte.
    let step = usize::from(data.first().copied().unwrap_or(1)).max(1);
    let mut pieces = Framer::default();
    let mut flagged_pieces = None;
    for chunk in data.chunks(step) {
        flagged_pieces = flagged_pieces.or(pieces.feed(chunk));
    }
    assert_eq!(flagged_whole, flagged_pieces, "read boundaries changed the verdict");
    assert_eq!(whole.in_head(), pieces.in_head(), "read boundaries changed the state");
});
