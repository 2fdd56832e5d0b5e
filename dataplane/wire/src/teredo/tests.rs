use super::*;
use crate::addr::is_list_b;
use std::vec::Vec;

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// SPEC §5.7 step 3 IPv6 packet: client → 2001:db8::1, Echo Request.
const STEP3_IPV6: [u8; 56] = [
    0x60, 0x00, 0x00, 0x00, 0x00, 0x10, 0x3a, 0x40, 0x20, 0x01, 0x00, 0x00, 0xc6, 0x33, 0x64, 0x76,
    0x00, 0x00, 0xdf, 0xff, 0x3f, 0xff, 0xfd, 0xf5, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x80, 0x00, 0x3a, 0xb5, 0x42, 0x42, 0x00, 0x08,
    0x74, 0x65, 0x72, 0x65, 0x64, 0x6f, 0x21, 0x21,
];

/// SPEC §5.7 step 1 bubble (IPv6 part): fe80::8000:ffff:ffff:fffe → client.
const BUBBLE: [u8; 40] = [
    0x60, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3b, 0x00, 0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x80, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0x20, 0x01, 0x00, 0x00, 0xc6, 0x33, 0x64, 0x76,
    0x00, 0x00, 0xdf, 0xff, 0x3f, 0xff, 0xfd, 0xf5,
];

const AUTH: [u8; 13] = [0x00, 0x01, 0x00, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 0x00];
const TRAILER: [u8; 6] = [0x01, 0x04, 0xde, 0xad, 0xbe, 0xef];

fn concat(parts: &[&[u8]]) -> Vec<u8> {
    parts.iter().flat_map(|p| p.iter().copied()).collect()
}

#[test]
fn spec_5_4_decoding_table() {
    let table = [
        (
            "2001:0:c633:6476:0:dfff:3fff:fdf5",
            [198, 51, 100, 118],
            0x0000,
            8192,
            [192, 0, 2, 10],
        ),
        (
            "2001:0:cb00:7178:0:efff:3fff:fdfe",
            [203, 0, 113, 120],
            0x0000,
            4096,
            [192, 0, 2, 1],
        ),
        (
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            [65, 54, 227, 120],
            0x8000,
            40000,
            [192, 0, 2, 45],
        ),
        (
            "2001:0:cb00:7101:8000:f227:39cc:9beb",
            [203, 0, 113, 1],
            0x8000,
            3544,
            [198, 51, 100, 20],
        ),
        (
            "2001:0:cb00:7101:1c37:63bf:39cc:9beb",
            [203, 0, 113, 1],
            0x1c37,
            40000,
            [198, 51, 100, 20],
        ),
    ];
    for (text, server, flags, port, client) in table {
        let a = v6(text);
        assert!(is_teredo(&a), "{text}");
        let d = Address::decode(&a).unwrap();
        let expected = Address {
            server: Ipv4Addr::from(server),
            flags,
            port,
            client: Ipv4Addr::from(client),
        };
        assert_eq!(d, expected, "{text}");
        assert_eq!(d.is_cone(), flags & FLAG_CONE != 0);
        assert_eq!(d.encode(), a);
        assert_eq!(mapping(&a), (Ipv4Addr::from(client), port));
    }
    // The random-flag row decodes to the same server, port and client as
    // the cone row with a different port; flags never cause rejection.
    let random = Address::decode(&v6("2001:0:cb00:7101:1c37:63bf:39cc:9beb")).unwrap();
    assert_eq!(random.flags & !RANDOM_MASK, 0);
    assert!(!random.is_cone());
    let plain = Address::decode(&v6("2001:0:cb00:7101:0:63bf:39cc:9beb")).unwrap();
    assert_eq!(
        (random.server, random.port, random.client),
        (plain.server, plain.port, plain.client)
    );
}

#[test]
fn not_teredo() {
    for text in [
        "2001:db8::1",
        "2001:2::1",
        "3ffe:831f::1",
        "2001:1::1",
        "2002:c000:201::1",
    ] {
        let a = v6(text);
        assert!(!is_teredo(&a), "{text}");
        assert_eq!(Address::decode(&a), None);
    }
    assert!(is_teredo(&v6("2001::")));
}

#[test]
fn spec_5_5_refusal_table() {
    let refused = [
        "2001:0:c633:6476:0:63bf:f5ff:fffe",
        "2001:0:c633:6476:0:63bf:80ff:fffe",
        "2001:0:c633:6476:0:63bf:1fff:fffe",
        "2001:0:c633:6476:0:63bf::",
        "2001:0:c633:6476:0:63bf:5601:fefe",
        "2001:0:c633:6476:0:63bf:53ef:fffe",
        "2001:0:c633:6476:0:63bf:3f57:fefe",
        "2001:0:c633:6476:0:63bf:ffff:fffe",
        "2001:0:c633:6476:0:63bf:3fa7:9cfe",
        "2001:0:a00:1:0:63bf:3fff:fdf5",
        "2001::1:0:63bf:3fff:fdf5",
        "2001::63bf:3fff:fdf5",
    ];
    let clients = [
        [10, 0, 0, 1],
        [127, 0, 0, 1],
        [224, 0, 0, 1],
        [255, 255, 255, 255],
        [169, 254, 1, 1],
        [172, 16, 0, 1],
        [192, 168, 1, 1],
        [0, 0, 0, 1],
        [192, 88, 99, 1],
    ];
    for (i, text) in refused.iter().enumerate() {
        let d = Address::decode(&v6(text)).unwrap();
        if let Some(c) = clients.get(i) {
            assert_eq!(d.client, Ipv4Addr::from(*c), "{text}");
            assert!(is_list_b(d.client), "{text}");
        } else {
            assert!(is_list_b(d.server), "{text}");
        }
        assert!(is_list_b(d.client) || is_list_b(d.server), "{text}");
    }
    let server_rows = [[10, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]];
    for (text, server) in refused[9..].iter().zip(server_rows) {
        assert_eq!(
            Address::decode(&v6(text)).unwrap().server,
            Ipv4Addr::from(server)
        );
    }

    for (text, client) in [
        ("2001:0:c633:6476:0:63bf:fff:fffe", [240, 0, 0, 1]),
        ("2001:0:c633:6476:0:63bf:9bbf:fffe", [100, 64, 0, 1]),
    ] {
        let d = Address::decode(&v6(text)).unwrap();
        assert_eq!(d.client, Ipv4Addr::from(client));
        assert!(!is_list_b(d.client) && !is_list_b(d.server), "{text}");
        assert!(crate::addr::is_list_c(d.client), "{text}");
    }
}

#[test]
fn spec_5_6_origin_indication() {
    assert_eq!(
        encode_origin(Ipv4Addr::new(1, 2, 3, 4), 337),
        [0x00, 0x00, 0xfe, 0xae, 0xfe, 0xfd, 0xfc, 0xfb]
    );
    let origin = encode_origin(Ipv4Addr::new(192, 0, 2, 10), 8192);
    assert_eq!(origin, [0x00, 0x00, 0xdf, 0xff, 0x3f, 0xff, 0xfd, 0xf5]);
    // Identical to the last 48 bits of that client's Teredo address.
    assert_eq!(
        &origin[2..],
        &v6("2001:0:c633:6476:0:dfff:3fff:fdf5").octets()[10..]
    );

    let pkt = concat(&[&origin, &STEP3_IPV6]);
    let p = parse_payload(&pkt).unwrap();
    assert_eq!(
        p,
        Payload {
            ipv6_offset: 8,
            ipv6_len: 56,
            origin: Some((Ipv4Addr::new(192, 0, 2, 10), 8192)),
            authenticated: false,
        }
    );
    assert_eq!(p.ipv6(&pkt), &STEP3_IPV6[..]);
}

#[test]
fn simple_payload_and_trailer() {
    let p = parse_payload(&STEP3_IPV6).unwrap();
    assert_eq!(
        p,
        Payload {
            ipv6_offset: 0,
            ipv6_len: 56,
            origin: None,
            authenticated: false
        }
    );
    // SPEC §5.7 step 3b: RFC 6081 nonce trailer is ignored.
    let pkt = concat(&[&STEP3_IPV6, &TRAILER]);
    assert_eq!(parse_payload(&pkt), Ok(p));
    assert_eq!(p.ipv6(&pkt), &STEP3_IPV6[..]);
}

#[test]
fn auth_header_is_skipped() {
    let pkt = concat(&[&AUTH, &STEP3_IPV6]);
    let p = parse_payload(&pkt).unwrap();
    assert_eq!(
        p,
        Payload {
            ipv6_offset: 13,
            ipv6_len: 56,
            origin: None,
            authenticated: true
        }
    );
    assert_eq!(p.ipv6(&pkt), &STEP3_IPV6[..]);

    // Authentication, then origin, then IPv6, then a trailer.
    let origin = encode_origin(Ipv4Addr::new(198, 51, 100, 20), 3544);
    let pkt = concat(&[&AUTH, &origin, &BUBBLE, &TRAILER]);
    let p = parse_payload(&pkt).unwrap();
    assert_eq!(p.ipv6_offset, 21);
    assert_eq!(p.ipv6_len, 40);
    assert_eq!(p.origin, Some((Ipv4Addr::new(198, 51, 100, 20), 3544)));
    assert!(p.authenticated);
    assert!(is_bubble(p.ipv6(&pkt)));

    // Client identifier and authentication value are skipped by length.
    let auth = [
        0x00, 0x01, 0x02, 0x03, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 1, 2, 3, 4, 5, 6, 7, 8, 0x01,
    ];
    let pkt = concat(&[&auth, &BUBBLE]);
    assert_eq!(parse_payload(&pkt).unwrap().ipv6_offset, 18);
}

#[test]
fn parse_errors() {
    use Error::{Malformed, Truncated};
    let cases: [(Vec<u8>, Error); 15] = [
        (Vec::new(), Malformed),
        (std::vec![0x00], Malformed),
        // Unknown encapsulation type (SPEC §5.7 negative: `00 02 …`).
        (
            concat(&[&[0x00, 0x02, 0, 0, 0, 0, 0, 0], &BUBBLE]),
            Malformed,
        ),
        // Two authentication headers.
        (concat(&[&AUTH, &AUTH, &BUBBLE]), Malformed),
        // Origin before authentication.
        (
            concat(&[&encode_origin(Ipv4Addr::LOCALHOST, 1), &AUTH, &BUBBLE]),
            Malformed,
        ),
        // Two origin indications.
        (concat(&[&[0u8; 8], &[0u8; 8], &BUBBLE]), Malformed),
        // Not IPv6.
        (concat(&[&[0x45], &BUBBLE[1..]]), Malformed),
        // Fewer than 40 bytes left.
        (BUBBLE[..39].to_vec(), Malformed),
        (concat(&[&AUTH, &BUBBLE[..39]]), Malformed),
        // IPv6 payload length beyond the UDP payload.
        (STEP3_IPV6[..55].to_vec(), Truncated),
        (concat(&[&[0u8; 8], &STEP3_IPV6[..55]]), Truncated),
        // Short authentication header.
        (std::vec![0x00, 0x01, 0x00], Truncated),
        (AUTH[..12].to_vec(), Truncated),
        (
            std::vec![0x00, 0x01, 0x10, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            Truncated,
        ),
        // Short origin indication.
        (std::vec![0x00, 0x00, 0xdf, 0xff, 0x3f], Truncated),
    ];
    for (bytes, err) in cases {
        assert_eq!(parse_payload(&bytes), Err(err), "{bytes:02x?}");
    }
}

#[test]
fn bubbles() {
    assert!(is_bubble(&BUBBLE));
    assert!(!is_bubble(&BUBBLE[..39]));
    assert!(!is_bubble(&STEP3_IPV6));
    let mut not_59 = BUBBLE;
    not_59[6] = 58;
    assert!(!is_bubble(&not_59));
    let mut with_len = BUBBLE;
    with_len[5] = 1;
    assert!(!is_bubble(&with_len));
}

#[test]
fn constants() {
    assert_eq!(SERVER_PORT, 3544);
    assert_eq!(PREFIX, 0x2001_0000);
    assert_eq!(
        (FLAG_CONE, RANDOM_MASK, FLAG_U, FLAG_G),
        (0x8000, 0x3cff, 0x0200, 0x0100)
    );
    assert_eq!(DISCOVERY_V4.to_bits(), 0xe000_00fd);
    assert_eq!(OVERHEAD, crate::ipv4::HEADER_LEN + crate::udp::HEADER_LEN);
}
