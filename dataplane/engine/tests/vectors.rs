//! SPEC §5 vectors, byte for byte (IPv4 ID pinned to 0 as §5 allows).

mod common;
use common::*;
use xrelay_engine::{DropReason, Now, Port};

const V6_A1_IN: &str = "
0000  60 00 00 00 00 0c 3a 40 20 01 0d b8 00 00 00 00
0010  00 00 00 00 00 00 00 01 20 02 c0 00 02 01 00 00
0020  00 00 00 00 00 00 00 01 80 00 98 fe 12 34 00 01
0030  61 62 63 64";
const V6_A1_OUT: &str = "
0000  45 00 00 48 00 00 00 00 40 29 95 32 c0 58 63 01
0010  c0 00 02 01 60 00 00 00 00 0c 3a 3f 20 01 0d b8
0020  00 00 00 00 00 00 00 00 00 00 00 01 20 02 c0 00
0030  02 01 00 00 00 00 00 00 00 00 00 01 80 00 98 fe
0040  12 34 00 01 61 62 63 64";
const V6_A2_IN: &str = "
0000  45 00 00 48 00 00 00 00 40 29 95 32 c0 00 02 01
0010  c0 58 63 01 60 00 00 00 00 0c 3a 40 20 02 c0 00
0020  02 01 00 00 00 00 00 00 00 00 00 01 20 01 0d b8
0030  00 00 00 00 00 00 00 00 00 00 00 01 81 00 97 fe
0040  12 34 00 01 61 62 63 64";
const V6_A2_OUT: &str = "
0000  60 00 00 00 00 0c 3a 3f 20 02 c0 00 02 01 00 00
0010  00 00 00 00 00 00 00 01 20 01 0d b8 00 00 00 00
0020  00 00 00 00 00 00 00 01 81 00 97 fe 12 34 00 01
0030  61 62 63 64";

#[test]
fn v6_a1_native_to_6to4() {
    let mut p = pipeline(&lab());
    let r = run(
        &mut p,
        Port::V6,
        &eth_in(Port::V6, &dump(V6_A1_IN)),
        Now::from_secs(1),
    );
    assert_eq!(r.tx, vec![(Port::V4, eth_out(Port::V4, &dump(V6_A1_OUT)))]);
}

#[test]
fn v6_a2_6to4_to_native() {
    let mut p = pipeline(&lab());
    let r = run(
        &mut p,
        Port::V4,
        &eth_in(Port::V4, &dump(V6_A2_IN)),
        Now::from_secs(1),
    );
    assert_eq!(r.tx, vec![(Port::V6, eth_out(Port::V6, &dump(V6_A2_OUT)))]);
}

#[test]
fn v6_a2_spoofed_outer_source() {
    let mut p = pipeline(&lab());
    let pkt = hex("4500003c0000000040292d05c6336407c05863016000000000003b402002c00002010000000000000000000120010db8000000000000000000000001");
    let r = run(&mut p, Port::V4, &eth_in(Port::V4, &pkt), Now::from_secs(1));
    assert!(r.tx.is_empty());
    assert_eq!(r.dropped.len(), 1);
    assert_eq!(r.dropped[0].0, DropReason::S4_05SpoofedSource);
    assert_eq!(p.counters().get_drop(DropReason::S4_05SpoofedSource), 1);
}

#[test]
fn v6_a3_probe_echo() {
    let mut p = pipeline(&lab());
    let req = hex("450000490000000040299531c0000201c058630160000000000d3a012002c0000201000000000000000000012002c058630100000000000000000000800015800001000170726f6265");
    let want = hex("450000490000000040299531c0586301c000020160000000000d3a402002c0586301000000000000000000002002c000020100000000000000000001810014800001000170726f6265");
    let r = run(&mut p, Port::V4, &eth_in(Port::V4, &req), Now::from_secs(1));
    assert_eq!(r.tx, vec![(Port::V4, eth_out(Port::V4, &want))]);
}

#[test]
fn v6_a4_traffic_class_copied() {
    let mut p = pipeline(&lab());
    let inp =
        hex("6b90000000003b4020010db80000000000000000000000012002c000020100000000000000000001");
    let want = hex("45b9003c0000000040299485c0586301c00002016b90000000003b3f20010db80000000000000000000000012002c000020100000000000000000001");
    let r = run(&mut p, Port::V6, &eth_in(Port::V6, &inp), Now::from_secs(1));
    assert_eq!(r.tx, vec![(Port::V4, eth_out(Port::V4, &want))]);
}

const S57_STEP1: &str = "
0000  60 00 00 00 00 10 3a 40 20 01 0d b8 00 00 00 00
0010  00 00 00 00 00 00 00 01 20 01 00 00 c6 33 64 76
0020  00 00 df ff 3f ff fd f5 81 00 39 b6 42 42 00 07
0030  74 65 72 65 64 6f 21 21";
const S57_BUBBLE: &str = "
0000  45 00 00 44 00 00 00 00 40 11 13 fa cb 00 71 05
0010  c6 33 64 76 0d d9 0d d8 00 30 fb 0b 60 00 00 00
0020  00 00 3b 00 fe 80 00 00 00 00 00 00 80 00 ff ff
0030  ff ff ff fe 20 01 00 00 c6 33 64 76 00 00 df ff
0040  3f ff fd f5";
const S57_STEP2: &str = "
0000  45 00 00 44 00 00 00 00 40 11 7c 99 c0 00 02 0a
0010  cb 00 71 05 20 00 0d d9 00 30 51 83 60 00 00 00
0020  00 00 3b 00 20 01 00 00 c6 33 64 76 00 00 df ff
0030  3f ff fd f5 fe 80 00 00 00 00 00 00 80 00 ff ff
0040  ff ff ff fe";
const S57_FLUSH: &str = "
0000  45 00 00 54 00 00 00 00 40 11 7c 89 cb 00 71 05
0010  c0 00 02 0a 0d d9 20 00 00 40 39 7f 60 00 00 00
0020  00 10 3a 3f 20 01 0d b8 00 00 00 00 00 00 00 00
0030  00 00 00 01 20 01 00 00 c6 33 64 76 00 00 df ff
0040  3f ff fd f5 81 00 39 b6 42 42 00 07 74 65 72 65
0050  64 6f 21 21";
const S57_STEP3: &str = "
0000  45 00 00 54 00 00 00 00 40 11 7c 89 c0 00 02 0a
0010  cb 00 71 05 20 00 0d d9 00 40 39 7e 60 00 00 00
0020  00 10 3a 40 20 01 00 00 c6 33 64 76 00 00 df ff
0030  3f ff fd f5 20 01 0d b8 00 00 00 00 00 00 00 00
0040  00 00 00 01 80 00 3a b5 42 42 00 08 74 65 72 65
0050  64 6f 21 21";
const S57_STEP3_OUT: &str = "
0000  60 00 00 00 00 10 3a 3f 20 01 00 00 c6 33 64 76
0010  00 00 df ff 3f ff fd f5 20 01 0d b8 00 00 00 00
0020  00 00 00 00 00 00 00 01 80 00 3a b5 42 42 00 08
0030  74 65 72 65 64 6f 21 21";

/// §5.7 with the bubble source replaced by the relay's keyed-hash address:
/// the vector's IID `8000:ffff:ffff:fffe` stands in for it, so the test
/// compares everything but those 8 bytes (and the UDP checksum they feed).
#[test]
fn s5_7_teredo_exchange() {
    let mut p = pipeline(&lab());
    let t = Now::from_secs(100);
    let r = run(&mut p, Port::V6, &eth_in(Port::V6, &dump(S57_STEP1)), t);
    assert_eq!(r.tx.len(), 1, "one indirect bubble, nothing to the client");
    let (port, got) = &r.tx[0];
    assert_eq!(*port, Port::V4);
    let want = eth_out(Port::V4, &dump(S57_BUBBLE));
    let bsrc = &got[14 + 28 + 8 + 8..14 + 28 + 8 + 16];
    let mut masked = got.clone();
    masked[14 + 26..14 + 28].copy_from_slice(&want[14 + 26..14 + 28]);
    masked[14 + 28 + 16..14 + 28 + 24].copy_from_slice(&want[14 + 28 + 16..14 + 28 + 24]);
    assert_eq!(masked, want);

    // Step 2: the client's reply bubble to our bubble source.
    let mut step2 = dump(S57_STEP2);
    step2[28 + 32..28 + 40].copy_from_slice(bsrc);
    fix_udp_checksum(&mut step2);
    let r = run(&mut p, Port::V4, &eth_in(Port::V4, &step2), t);
    assert_eq!(r.tx, vec![(Port::V4, eth_out(Port::V4, &dump(S57_FLUSH)))]);

    // Step 3: data from the client.
    let r = run(&mut p, Port::V4, &eth_in(Port::V4, &dump(S57_STEP3)), t);
    assert_eq!(
        r.tx,
        vec![(Port::V6, eth_out(Port::V6, &dump(S57_STEP3_OUT)))]
    );

    // Step 3b: with an RFC 6081 trailer.
    let mut s3b = hex("4500005a0000000040117c83c000020acb00710520000dd900469ad0");
    s3b.extend_from_slice(&dump(S57_STEP3)[28..]);
    s3b.extend_from_slice(&hex("0104deadbeef"));
    let r = run(&mut p, Port::V4, &eth_in(Port::V4, &s3b), t);
    assert_eq!(
        r.tx,
        vec![(Port::V6, eth_out(Port::V6, &dump(S57_STEP3_OUT)))]
    );
}

/// Recomputes the UDP checksum of an IPv4/UDP packet (20-byte header).
pub fn fix_udp_checksum(p: &mut [u8]) {
    p[26] = 0;
    p[27] = 0;
    let src = std::net::Ipv4Addr::new(p[12], p[13], p[14], p[15]);
    let dst = std::net::Ipv4Addr::new(p[16], p[17], p[18], p[19]);
    let ulen = u16::from_be_bytes([p[24], p[25]]);
    let ph = xrelay_wire::checksum::pseudo_header_v4(&src, &dst, 17, u32::from(ulen));
    let c = !xrelay_wire::checksum::combine(&[
        ph,
        xrelay_wire::checksum::data(&p[20..20 + usize::from(ulen)]),
    ]);
    p[26..28].copy_from_slice(&c.to_be_bytes());
}
