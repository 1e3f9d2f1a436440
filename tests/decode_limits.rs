//! Hostile length headers cost no allocation the size of their claim (issue 9): the decoders
//! run under a global allocator that records the largest single allocation, and every claim of
//! gigabytes (or of 100,000 nested arrays) must be decided with allocations of a few KiB.
//!
//! One test in this file on purpose: the record is global, so nothing else may run meanwhile.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::{Bytes, BytesMut};
use redis_sidecar::protocol::{frame_len, parse_reply, Limits, RequestParser};

struct Recording;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Recording {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Recording = Recording;

/// The largest single allocation `f` made.
fn largest_allocation(f: impl FnOnce()) -> usize {
    LARGEST.store(0, Ordering::SeqCst);
    f();
    LARGEST.load(Ordering::SeqCst)
}

const SMALL: usize = 64 * 1024;

#[test]
fn hostile_claims_allocate_nothing_near_their_size() {
    let requests: &[&[u8]] = &[
        b"*2147483647\r\n",
        b"*1048576\r\n$1\r\na\r\n",
        b"*1\r\n$2147483647\r\n",
        b"*1\r\n$536870912\r\n",
        b"*1\r\n$-5\r\n",
        b"*1\r\n$x\r\n",
        b"*x\r\n",
    ];
    for input in requests {
        let mut buf = BytesMut::from(*input);
        let mut parser = RequestParser::default();
        let size = largest_allocation(|| {
            let _ = parser.next(&mut buf, &Limits::default());
        });
        assert!(
            size < SMALL,
            "{:?} allocated {size} bytes",
            String::from_utf8_lossy(input)
        );
    }
    let nested = b"*1\r\n".repeat(100_000);
    let mut buf = BytesMut::from(&nested[..]);
    let size = largest_allocation(|| {
        let _ = RequestParser::default().next(&mut buf, &Limits::default());
    });
    assert!(
        size < SMALL,
        "100,000 nested arrays (request) allocated {size} bytes"
    );

    let replies: Vec<Bytes> = vec![
        Bytes::from_static(b"*2147483647\r\n"),
        Bytes::from_static(b"*4294967296\r\n:1\r\n"),
        Bytes::from_static(b"%2147483647\r\n:1\r\n"),
        Bytes::from_static(b"~2147483647\r\n:1\r\n"),
        Bytes::from_static(b"$2147483647\r\n"),
        Bytes::from_static(b"$536870912\r\nabc"),
        Bytes::from_static(b"$-5\r\n"),
        Bytes::from(nested),
    ];
    for input in &replies {
        let size = largest_allocation(|| {
            let _ = frame_len(input, 64);
            let _ = parse_reply(input);
        });
        let head = String::from_utf8_lossy(&input[..input.len().min(16)]).into_owned();
        assert!(size < SMALL, "reply {head:?} allocated {size} bytes");
    }
}
