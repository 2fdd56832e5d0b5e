//! Cross-module tests: differential checks against etherparse (an
//! independent implementation) and the "no accessor panics after
//! `check_len`" promise on arbitrary bytes.

use core::net::{Ipv4Addr, Ipv6Addr};
use std::vec::Vec;

use etherparse::{
    IpFragOffset, IpNumber, Ipv4Dscp, Ipv4Ecn, Ipv4Header, Ipv6FlowLabel, Ipv6Header,
    PacketBuilder, UdpHeader, VlanId,
};
use proptest::prelude::*;

use crate::{addr, checksum, ethernet, icmpv4, icmpv6, ipv4, ipv6, sixrd, sixtofour, teredo, udp};

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn etherparse_built_vlan_ipv4_udp_frame() {
    let payload = b"teredo payload bytes";
    let builder = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .single_vlan(VlanId::try_new(0x123).unwrap())
        .ipv4([203, 0, 113, 5], [192, 0, 2, 10], 64)
        .udp(3545, 8192);
    let mut frame = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut frame, payload).unwrap();

    let eth = ethernet::Frame::new_checked(&frame[..]).unwrap();
    assert_eq!(eth.src_addr(), [2, 0, 0, 0, 0, 1]);
    assert_eq!(eth.dst_addr(), [2, 0, 0, 0, 0, 2]);
    assert_eq!(eth.vlan_id(), Some(0x123));
    assert_eq!(eth.ethertype(), ethernet::ETHERTYPE_IPV4);
    assert_eq!(eth.header_len(), ethernet::VLAN_HEADER_LEN);

    let ip = ipv4::Packet::new_checked(eth.payload()).unwrap();
    let (theirs, _) = Ipv4Header::from_slice(eth.payload()).unwrap();
    assert_eq!(ip.version(), 4);
    assert!(ip.verify_checksum());
    assert_eq!(ip.checksum(), theirs.header_checksum);
    assert_eq!(ip.total_len(), theirs.total_len);
    assert_eq!(ip.ident(), theirs.identification);
    assert_eq!(ip.dont_frag(), theirs.dont_fragment);
    assert_eq!(ip.ttl(), theirs.time_to_live);
    assert_eq!(ip.protocol(), theirs.protocol.0);
    assert_eq!(ip.src_addr(), Ipv4Addr::from(theirs.source));
    assert_eq!(ip.dst_addr(), Ipv4Addr::from(theirs.destination));

    let u = udp::Packet::new_checked(ip.payload()).unwrap();
    let (their_udp, rest) = UdpHeader::from_slice(ip.payload()).unwrap();
    assert_eq!(u.src_port(), their_udp.source_port);
    assert_eq!(u.dst_port(), their_udp.destination_port);
    assert_eq!(u.len(), their_udp.length);
    assert_eq!(u.checksum(), their_udp.checksum);
    assert_eq!(u.payload(), rest);
    assert_eq!(u.payload(), payload);
    assert!(u.verify_checksum_v4(&ip.src_addr(), &ip.dst_addr()));
}

#[test]
fn etherparse_built_ipv6_udp_and_icmpv6() {
    let src = v6("2001:db8::1");
    let dst = v6("2001:0:c633:6476:0:dfff:3fff:fdf5");
    let builder = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv6(src.octets(), dst.octets(), 64)
        .udp(5000, 6000);
    let mut frame = Vec::new();
    builder.write(&mut frame, b"odd").unwrap();
    let eth = ethernet::Frame::new_checked(&frame[..]).unwrap();
    assert_eq!(
        (eth.vlan_id(), eth.ethertype()),
        (None, ethernet::ETHERTYPE_IPV6)
    );
    let ip = ipv6::Packet::new_checked(eth.payload()).unwrap();
    assert_eq!((ip.src_addr(), ip.dst_addr()), (src, dst));
    assert_eq!(ipv6::upper_layer(&ip), Ok((ipv6::next_header::UDP, 40)));
    let u = udp::Packet::new_checked(ip.payload()).unwrap();
    assert!(u.verify_checksum_v6(&src, &dst));
    assert_eq!(u.payload(), b"odd");

    let builder = PacketBuilder::ipv6(src.octets(), dst.octets(), 64).icmpv6_echo_request(7, 9);
    let mut pkt = Vec::new();
    builder.write(&mut pkt, b"ping").unwrap();
    let ip = ipv6::Packet::new_checked(&pkt[..]).unwrap();
    assert_eq!(ip.next_header(), ipv6::next_header::ICMPV6);
    let icmp = icmpv6::Packet::new_checked(ip.payload()).unwrap();
    assert_eq!(icmp.msg_type(), icmpv6::msg_type::ECHO_REQUEST);
    assert_eq!((icmp.echo_ident(), icmp.echo_seq_no()), (7, 9));
    assert!(icmp.verify_checksum(&src, &dst));

    let builder =
        PacketBuilder::ipv4([192, 0, 2, 1], [203, 0, 113, 5], 64).icmpv4_echo_request(3, 4);
    let mut pkt = Vec::new();
    builder.write(&mut pkt, b"ping4").unwrap();
    let ip = ipv4::Packet::new_checked(&pkt[..]).unwrap();
    let icmp = icmpv4::Packet::new_checked(ip.payload()).unwrap();
    assert_eq!(
        (icmp.msg_type(), icmp.echo_ident(), icmp.echo_seq_no()),
        (8, 3, 4)
    );
    assert!(icmp.verify_checksum());
}

#[test]
fn our_teredo_encapsulation_decodes_in_etherparse() {
    // Build SPEC §5.7 step 2's queued reply with our emitters and let
    // etherparse check every field and checksum.
    let inner = hex(concat!(
        "6000000000103a3f20010db8000000000000000000000001",
        "20010000c63364760000dfff3ffffdf5",
        "810039b64242000774657265646f2121",
    ));
    assert_eq!(inner.len(), 56);
    let relay = Ipv4Addr::new(203, 0, 113, 5);
    let client = Ipv4Addr::new(192, 0, 2, 10);
    let mut buf = [0u8; 84];
    let repr = ipv4::Repr {
        src: relay,
        dst: client,
        protocol: ipv4::protocol::UDP,
        payload_len: 64,
        ttl: 64,
        tos: 0,
        ident: 0,
        dont_frag: false,
    };
    repr.emit(&mut buf).unwrap();
    let mut u = udp::Packet::new_unchecked(&mut buf[20..]);
    u.set_src_port(3545);
    u.set_dst_port(8192);
    u.set_len(64);
    u.payload_mut().copy_from_slice(&inner);
    u.fill_checksum_v4(&relay, &client);

    let expected = hex("450000540000000040117c89cb007105c000020a0dd920000040397f");
    assert_eq!(&buf[..28], &expected[..]);

    let (ip, rest) = Ipv4Header::from_slice(&buf).unwrap();
    assert_eq!(ip.header_checksum, ip.calc_header_checksum());
    let (udp_hdr, payload) = UdpHeader::from_slice(rest).unwrap();
    assert_eq!(
        udp_hdr.checksum,
        udp_hdr.calc_checksum_ipv4(&ip, payload).unwrap()
    );
    let (ip6, _) = Ipv6Header::from_slice(payload).unwrap();
    assert_eq!(ip6.hop_limit, 63);
    assert_eq!(
        Ipv6Addr::from(ip6.destination),
        v6("2001:0:c633:6476:0:dfff:3fff:fdf5")
    );
    let t = teredo::parse_payload(payload).unwrap();
    assert_eq!((t.ipv6_offset, t.ipv6_len), (0, 56));
}

#[test]
fn spec_5_7_step3b_through_all_layers() {
    let step3_ipv6 = hex(concat!(
        "6000000000103a4020010000c63364760000dfff3ffffdf5",
        "20010db8000000000000000000000001",
        "80003ab54242000874657265646f2121",
    ));
    let mut pkt = hex("4500005a0000000040117c83c000020acb00710520000dd900469ad0");
    pkt.extend_from_slice(&step3_ipv6);
    pkt.extend_from_slice(&[0x01, 0x04, 0xde, 0xad, 0xbe, 0xef]);

    let ip = ipv4::Packet::new_checked(&pkt[..]).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!(ip.protocol(), ipv4::protocol::UDP);
    let u = udp::Packet::new_checked(ip.payload()).unwrap();
    assert!(u.verify_checksum_v4(&ip.src_addr(), &ip.dst_addr()));
    assert_eq!(u.dst_port(), 3545);
    let t = teredo::parse_payload(u.payload()).unwrap();
    let inner = t.ipv6(u.payload());
    assert_eq!(inner, &step3_ipv6[..]);
    let p6 = ipv6::Packet::new_checked(inner).unwrap();
    let src = p6.src_addr();
    assert!(teredo::is_teredo(&src));
    assert_eq!(teredo::mapping(&src), (ip.src_addr(), u.src_port()));
    let icmp = icmpv6::Packet::new_checked(p6.payload()).unwrap();
    assert!(icmp.verify_checksum(&src, &p6.dst_addr()));
    assert!(!addr::is_list_b(ip.src_addr()));
}

#[test]
fn spec_5_3_v6_a2_negative_spoof_packet() {
    // S4-05 negative vector: outer source 198.51.100.7, inner 2002:c000:201::1.
    let pkt = hex(concat!(
        "4500003c0000000040292d05c6336407c0586301",
        "6000000000003b402002c000020100000000000000000001",
        "20010db8000000000000000000000001",
    ));
    let ip = ipv4::Packet::new_checked(&pkt[..]).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!(ip.protocol(), sixtofour::PROTOCOL);
    let inner = ipv6::Packet::new_checked(ip.payload()).unwrap();
    assert!(teredo::is_bubble(ip.payload()));
    let embedded = sixtofour::embedded_v4(&inner.src_addr()).unwrap();
    assert_eq!(embedded, Ipv4Addr::new(192, 0, 2, 1));
    assert_ne!(embedded, ip.src_addr());
    assert_eq!(
        sixrd::Domain::SIXTOFOUR.embedded_v4(&inner.src_addr()),
        Some(embedded)
    );
}

/// Calls every accessor of every view on `bytes`; after a successful
/// `check_len` nothing may panic (the smoltcp promise), and the helpers are
/// total even without it.
fn touch_everything(bytes: &[u8]) {
    let eth = ethernet::Frame::new_unchecked(bytes);
    let _ = eth.check_len();
    let _ = (
        eth.dst_addr(),
        eth.src_addr(),
        eth.is_multicast_dst(),
        eth.vlan_id(),
    );
    let _ = (eth.ethertype(), eth.header_len(), eth.payload().len());
    if eth.check_len().is_ok() {
        assert!(eth.header_len() + eth.payload().len() == bytes.len());
    }

    let ip4 = ipv4::Packet::new_unchecked(bytes);
    let ok4 = ip4.check_len().is_ok();
    let _ = (
        ip4.version(),
        ip4.header_len(),
        ip4.tos(),
        ip4.dscp(),
        ip4.ecn(),
    );
    let _ = (
        ip4.total_len(),
        ip4.ident(),
        ip4.dont_frag(),
        ip4.more_frags(),
    );
    let _ = (
        ip4.frag_offset(),
        ip4.is_fragment(),
        ip4.ttl(),
        ip4.protocol(),
    );
    let _ = (
        ip4.checksum(),
        ip4.src_addr(),
        ip4.dst_addr(),
        ip4.verify_checksum(),
    );
    let _ = ipv4::Repr::parse(&ip4);
    if ok4 {
        assert_eq!(
            ip4.payload().len(),
            usize::from(ip4.total_len()) - ip4.header_len()
        );
    }

    let ip6 = ipv6::Packet::new_unchecked(bytes);
    let ok6 = ip6.check_len().is_ok();
    let _ = (
        ip6.version(),
        ip6.traffic_class(),
        ip6.ecn(),
        ip6.flow_label(),
    );
    let _ = (ip6.payload_len(), ip6.next_header(), ip6.hop_limit());
    let _ = (
        ip6.src_addr(),
        ip6.dst_addr(),
        ip6.total_len(),
        ip6.payload().len(),
    );
    let _ = ipv6::Repr::parse(&ip6);
    let _ = ipv6::has_jumbo_option(&ip6);
    if let Ok((_, offset)) = ipv6::upper_layer(&ip6) {
        assert!(offset <= ip6.total_len());
    }
    if ok6 {
        assert_eq!(ip6.payload().len(), usize::from(ip6.payload_len()));
    }

    let u = udp::Packet::new_unchecked(bytes);
    let oku = u.check_len().is_ok();
    let (a4, a6) = (Ipv4Addr::new(192, 0, 2, 1), v6("2001:db8::1"));
    let _ = (
        u.src_port(),
        u.dst_port(),
        u.len(),
        u.checksum(),
        u.payload().len(),
    );
    let _ = (
        u.verify_checksum_v4(&a4, &a4),
        u.verify_checksum_v6(&a6, &a6),
    );
    if oku {
        assert_eq!(u.payload().len() + 8, usize::from(u.len()));
    }

    let i6 = icmpv6::Packet::new_unchecked(bytes);
    let _ = i6.check_len();
    let _ = (i6.msg_type(), i6.msg_code(), i6.checksum(), i6.mtu());
    let _ = (i6.echo_ident(), i6.echo_seq_no(), i6.payload().len());
    let _ = i6.verify_checksum(&a6, &a6);

    let i4 = icmpv4::Packet::new_unchecked(bytes);
    let _ = i4.check_len();
    let _ = (
        i4.msg_type(),
        i4.msg_code(),
        i4.checksum(),
        i4.next_hop_mtu(),
    );
    let _ = (
        i4.echo_ident(),
        i4.echo_seq_no(),
        i4.payload().len(),
        i4.verify_checksum(),
    );

    if let Ok(p) = teredo::parse_payload(bytes) {
        let inner = p.ipv6(bytes);
        assert_eq!(inner.len(), p.ipv6_len);
        assert!(ipv6::Packet::new_checked(inner).is_ok());
        let _ = teredo::is_bubble(inner);
    }
    let _ = teredo::is_bubble(bytes);
    let _ = checksum::data(bytes);
}

/// Like [`touch_everything`] for the setters on a mutable copy.
fn write_everything(bytes: &[u8]) {
    let mut buf = bytes.to_vec();
    let mut eth = ethernet::Frame::new_unchecked(&mut buf[..]);
    eth.set_dst_addr([1; 6]);
    eth.set_ethertype(0x86dd);
    let _ = eth.payload_mut().len();
    let _ = ethernet::emit_header(&mut buf, [0; 6], [0; 6], Some(7), 0x0800);

    let mut ip4 = ipv4::Packet::new_unchecked(&mut buf[..]);
    ip4.set_ttl(1);
    ip4.set_frag_offset(0xffff);
    ip4.fill_checksum();
    let _ = ip4.payload_mut().len();

    let mut ip6 = ipv6::Packet::new_unchecked(&mut buf[..]);
    ip6.set_version();
    ip6.set_flow_label(u32::MAX);
    ip6.set_src_addr(Ipv6Addr::LOCALHOST);
    let _ = ip6.payload_mut().len();

    let mut u = udp::Packet::new_unchecked(&mut buf[..]);
    u.fill_checksum_v4(&Ipv4Addr::LOCALHOST, &Ipv4Addr::LOCALHOST);
    u.fill_checksum_v6(&Ipv6Addr::LOCALHOST, &Ipv6Addr::LOCALHOST);
    let _ = u.payload_mut().len();

    let mut i6 = icmpv6::Packet::new_unchecked(&mut buf[..]);
    i6.clear_reserved();
    i6.fill_checksum(&Ipv6Addr::LOCALHOST, &Ipv6Addr::LOCALHOST);
    let _ = i6.payload_mut().len();

    let mut i4 = icmpv4::Packet::new_unchecked(&mut buf[..]);
    i4.clear_reserved();
    i4.fill_checksum();
    let _ = i4.payload_mut().len();
}

fn ipv4_addr() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from_bits)
}

fn ipv6_addr() -> impl Strategy<Value = Ipv6Addr> {
    any::<u128>().prop_map(Ipv6Addr::from_bits)
}

/// IPv4 addresses concentrated around the boundaries of lists A, B and C.
fn interesting_ipv4() -> impl Strategy<Value = Ipv4Addr> {
    let octet = |special: Vec<u8>| prop_oneof![prop::sample::select(special), any::<u8>()];
    (
        octet(std::vec![
            0, 9, 10, 11, 100, 126, 127, 169, 172, 192, 198, 203, 223, 224, 239, 240, 255
        ]),
        octet(std::vec![
            0, 2, 15, 16, 17, 18, 19, 20, 31, 32, 51, 63, 64, 88, 127, 128, 167, 168, 254, 255
        ]),
        octet(std::vec![0, 1, 2, 3, 98, 99, 100, 112, 113, 255]),
        octet(std::vec![0, 1, 254, 255]),
    )
        .prop_map(|(a, b, c, d)| Ipv4Addr::new(a, b, c, d))
}

/// Byte strings that often look like real headers: a plausible first byte
/// and length fields that sometimes fit.
fn packetish() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(std::vec![0x00u8, 0x45, 0x46, 0x4f, 0x60, 0x6b, 0x81, 0xff]),
        prop::collection::vec(any::<u8>(), 0..160),
    )
        .prop_map(|(first, mut rest)| {
            rest.insert(0, first);
            rest
        })
}

proptest! {
    #[test]
    fn no_accessor_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..160)) {
        touch_everything(&bytes);
        write_everything(&bytes);
    }

    #[test]
    fn no_accessor_panics_on_packetish_bytes(bytes in packetish()) {
        touch_everything(&bytes);
        write_everything(&bytes);
    }

    #[test]
    fn parse_payload_never_panics(
        prefix in prop::sample::select(std::vec![
            std::vec![], std::vec![0u8, 0], std::vec![0u8, 1], std::vec![0u8, 1, 0, 0],
            std::vec![0u8, 1, 3, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ]),
        body in prop::collection::vec(any::<u8>(), 0..120),
    ) {
        let mut bytes = prefix;
        bytes.extend_from_slice(&body);
        let _ = teredo::parse_payload(&bytes);
        touch_everything(&bytes);
    }

    #[test]
    fn ipv4_fields_match_etherparse(
        payload_len in 0u16..1400,
        ttl in any::<u8>(),
        protocol in any::<u8>(),
        src in any::<[u8; 4]>(),
        dst in any::<[u8; 4]>(),
        dscp in 0u8..64,
        ecn in 0u8..4,
        ident in any::<u16>(),
        df in any::<bool>(),
        mf in any::<bool>(),
        frag in 0u16..0x2000,
    ) {
        let mut h = Ipv4Header::new(payload_len, ttl, IpNumber(protocol), src, dst).unwrap();
        h.dscp = Ipv4Dscp::try_new(dscp).unwrap();
        h.ecn = Ipv4Ecn::try_new(ecn).unwrap();
        h.identification = ident;
        h.dont_fragment = df;
        h.more_fragments = mf;
        h.fragment_offset = IpFragOffset::try_new(frag).unwrap();
        h.header_checksum = h.calc_header_checksum();
        let mut bytes = h.to_bytes().to_vec();
        bytes.resize(usize::from(h.total_len), 0);

        let p = ipv4::Packet::new_checked(&bytes[..]).unwrap();
        prop_assert!(p.verify_checksum());
        prop_assert_eq!((p.dscp(), p.ecn()), (dscp, ecn));
        prop_assert_eq!(p.total_len(), h.total_len);
        prop_assert_eq!(p.ident(), ident);
        prop_assert_eq!((p.dont_frag(), p.more_frags()), (df, mf));
        prop_assert_eq!(p.frag_offset(), frag << 3);
        prop_assert_eq!(p.is_fragment(), h.is_fragmenting_payload());
        prop_assert_eq!((p.ttl(), p.protocol()), (ttl, protocol));
        prop_assert_eq!((p.src_addr(), p.dst_addr()), (Ipv4Addr::from(src), Ipv4Addr::from(dst)));

        // Our emitter produces the same bytes for the non-fragment case.
        let repr = ipv4::Repr {
            src: Ipv4Addr::from(src),
            dst: Ipv4Addr::from(dst),
            protocol,
            payload_len: usize::from(payload_len),
            ttl,
            tos: (dscp << 2) | ecn,
            ident,
            dont_frag: df,
        };
        let mut ours = [0u8; 20];
        repr.emit(&mut ours).unwrap();
        h.more_fragments = false;
        h.fragment_offset = IpFragOffset::ZERO;
        h.header_checksum = h.calc_header_checksum();
        prop_assert_eq!(&ours[..], &h.to_bytes()[..]);
    }

    #[test]
    fn ipv6_and_udp_match_etherparse(
        src in ipv6_addr(),
        dst in ipv6_addr(),
        tc in any::<u8>(),
        flow in 0u32..0x10_0000,
        hop in any::<u8>(),
        sport in any::<u16>(),
        dport in any::<u16>(),
        data in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let repr = ipv6::Repr {
            src,
            dst,
            next_header: ipv6::next_header::UDP,
            payload_len: 8 + data.len(),
            hop_limit: hop,
            traffic_class: tc,
            flow_label: flow,
        };
        let mut buf = std::vec![0u8; 48 + data.len()];
        repr.emit(&mut buf).unwrap();
        let mut u = udp::Packet::new_unchecked(&mut buf[40..]);
        u.set_src_port(sport);
        u.set_dst_port(dport);
        u.set_len((8 + data.len()) as u16);
        u.payload_mut().copy_from_slice(&data);
        u.fill_checksum_v6(&src, &dst);

        let (h, rest) = Ipv6Header::from_slice(&buf).unwrap();
        prop_assert_eq!(h.traffic_class, tc);
        prop_assert_eq!(h.flow_label, Ipv6FlowLabel::try_new(flow).unwrap());
        prop_assert_eq!(h.hop_limit, hop);
        prop_assert_eq!((h.source, h.destination), (src.octets(), dst.octets()));
        let (uh, payload) = UdpHeader::from_slice(rest).unwrap();
        prop_assert_eq!(uh.checksum, uh.calc_checksum_ipv6(&h, payload).unwrap());
        prop_assert_eq!(ipv6::Repr::parse(&ipv6::Packet::new_unchecked(&buf[..])).unwrap(), repr);
    }

    #[test]
    fn teredo_address_round_trips(
        server in ipv4_addr(), flags in any::<u16>(), port in any::<u16>(), client in ipv4_addr(),
    ) {
        let a = teredo::Address { server, flags, port, client };
        let encoded = a.encode();
        prop_assert!(teredo::is_teredo(&encoded));
        prop_assert_eq!(teredo::Address::decode(&encoded), Some(a));
        prop_assert_eq!(teredo::mapping(&encoded), (client, port));
        prop_assert_eq!(&teredo::encode_origin(client, port)[2..], &encoded.octets()[10..]);
    }

    #[test]
    fn sixrd_round_trips(
        prefix in ipv6_addr(),
        prefix_len in 0u8..=96,
        mask_len in 0u8..=32,
        common in ipv4_addr(),
        ce in ipv4_addr(),
        host in any::<u128>(),
    ) {
        prop_assume!(u32::from(prefix_len) + 32 - u32::from(mask_len) <= 128);
        let d = sixrd::Domain::new(prefix, prefix_len, mask_len, common).unwrap();
        let (delegated, len) = d.delegated_prefix(ce);
        prop_assert_eq!(len, prefix_len + 32 - mask_len);
        prop_assert!(d.contains(&delegated));
        // Any address inside the delegated prefix maps back to the CE with
        // the common bits replaced by the domain's.
        let host_mask = u128::MAX.checked_shr(u32::from(len)).unwrap_or(0);
        let inside = Ipv6Addr::from_bits(delegated.to_bits() | (host & host_mask));
        let keep = u32::MAX.checked_shr(u32::from(mask_len)).unwrap_or(0);
        let expected = (common.to_bits() & !keep) | (ce.to_bits() & keep);
        prop_assert_eq!(d.embedded_v4(&inside), Some(Ipv4Addr::from_bits(expected)));
    }

    #[test]
    fn sixtofour_agrees_with_6rd(v4 in ipv4_addr(), a in ipv6_addr()) {
        let d = sixrd::Domain::SIXTOFOUR;
        prop_assert_eq!(d.delegated_prefix(v4), (sixtofour::prefix_for(v4), 48));
        prop_assert_eq!(d.embedded_v4(&a), sixtofour::embedded_v4(&a));
        prop_assert_eq!(d.contains(&a), sixtofour::is_6to4(&a));
    }

    #[test]
    fn list_predicates_match_prefix_tables(a in interesting_ipv4()) {
        let in_prefix = |net: [u8; 4], len: u32| {
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            a.to_bits() & mask == u32::from_be_bytes(net) & mask
        };
        let list_a = [([0, 0, 0, 0], 8), ([10, 0, 0, 0], 8), ([127, 0, 0, 0], 8),
            ([169, 254, 0, 0], 16), ([172, 16, 0, 0], 12), ([192, 168, 0, 0], 16),
            ([224, 0, 0, 0], 4), ([240, 0, 0, 0], 4)];
        let list_b = [([0, 0, 0, 0], 8), ([127, 0, 0, 0], 8), ([10, 0, 0, 0], 8),
            ([172, 16, 0, 0], 12), ([192, 168, 0, 0], 16), ([169, 254, 0, 0], 16),
            ([192, 88, 99, 0], 24), ([224, 0, 0, 0], 4), ([255, 255, 255, 255], 32)];
        let list_c = [([100, 64, 0, 0], 10), ([192, 0, 0, 0], 24), ([198, 18, 0, 0], 15),
            ([192, 0, 2, 0], 24), ([198, 51, 100, 0], 24), ([203, 0, 113, 0], 24),
            ([240, 0, 0, 0], 4)];
        prop_assert_eq!(addr::is_list_a(a), list_a.iter().any(|&(n, l)| in_prefix(n, l)));
        prop_assert_eq!(addr::is_list_b(a), list_b.iter().any(|&(n, l)| in_prefix(n, l)));
        prop_assert_eq!(addr::is_list_c(a), list_c.iter().any(|&(n, l)| in_prefix(n, l)));
    }
}
