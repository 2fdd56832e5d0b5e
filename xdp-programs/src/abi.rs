//! The ABI shared with the C program: map names, repr(C) mirrors of every
//! map key and value, the counter enum, the prefix kinds and the load-time
//! constants.
//!
//! Nothing here is kept in step with the C headers by hand alone:
//! `tests/abi.rs` parses `include/{config,maps,counters}.h` and compares
//! member names and order, field names, offsets and sizes with these
//! definitions, and (when clang is present) with the layout clang computes
//! for the BPF target.
//!
//! Byte order: addresses and ports are stored as on the wire (network
//! order), so a `[u8; 4]` address or a `[u8; 2]` port reads the same in C
//! and Rust on any host.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The XDP program (`SEC("xdp") int xr_steer(...)`).
pub const PROGRAM: &str = "xr_steer";

/// `xr_sixto4`: relay IPv4 addresses that accept protocol 41.
pub const MAP_SIXTO4: &str = "xr_sixto4";
/// `xr_teredo`: Teredo relay addresses and their UDP port.
pub const MAP_TEREDO: &str = "xr_teredo";
/// `xr_prefixes`: managed IPv6 prefixes (LPM trie).
pub const MAP_PREFIXES: &str = "xr_prefixes";
/// `xr_xsks`: AF_XDP socket per receive queue.
pub const MAP_XSKS: &str = "xr_xsks";
/// `xr_counters`: per-CPU counters indexed by [`Counter`].
pub const MAP_COUNTERS: &str = "xr_counters";

/// A field of a C struct as Rust lays it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldInfo {
    pub name: &'static str,
    pub offset: usize,
    pub size: usize,
}

/// A Rust mirror of a C struct: its C name and its fields in order.
pub trait CStruct {
    /// `struct xr_…` as written in the header.
    const C_NAME: &'static str;
    const FIELDS: &'static [FieldInfo];
}

macro_rules! c_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident = $cname:literal {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl CStruct for $name {
            const C_NAME: &'static str = $cname;
            const FIELDS: &'static [FieldInfo] = &[
                $( FieldInfo {
                    name: stringify!($field),
                    offset: ::core::mem::offset_of!($name, $field),
                    size: ::core::mem::size_of::<$ty>(),
                }, )*
            ];
        }

        // No padding: the fields add up to the struct.
        const _: () = assert!(
            ::core::mem::size_of::<$name>() == 0 $( + ::core::mem::size_of::<$ty>() )*
        );

        // SAFETY: repr(C), built only from integers and integer arrays (every
        // bit pattern valid), and the assertion above proves there is no
        // padding, so the bytes aya copies to and from the kernel are exactly
        // the fields.
        unsafe impl aya::Pod for $name {}
    };
}

c_struct! {
    /// Key of `xr_sixto4` and `xr_teredo`.
    pub struct V4Key = "xr_v4_key" {
        /// IPv4 address, network order.
        pub addr: [u8; 4],
    }
}

c_struct! {
    /// Value of `xr_sixto4`. No flags are defined yet: write 0.
    pub struct V4Val = "xr_v4_val" {
        pub flags: u32,
    }
}

c_struct! {
    /// Value of `xr_teredo`: the service port of that address.
    pub struct TeredoVal = "xr_teredo_val" {
        /// UDP port, network order.
        pub port: [u8; 2],
        pub pad: u16,
    }
}

c_struct! {
    /// Key of `xr_prefixes` (`struct bpf_lpm_trie_key` shape).
    pub struct PrefixKey = "xr_prefix_key" {
        pub prefixlen: u32,
        pub addr: [u8; 16],
    }
}

c_struct! {
    /// Value of `xr_prefixes`.
    pub struct PrefixVal = "xr_prefix_val" {
        /// A [`PrefixKind`] as `u32`.
        pub kind: u32,
    }
}

impl V4Key {
    pub fn new(a: Ipv4Addr) -> V4Key {
        V4Key { addr: a.octets() }
    }
    pub fn addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.addr)
    }
}

impl TeredoVal {
    pub fn new(port: u16) -> TeredoVal {
        TeredoVal {
            port: port.to_be_bytes(),
            pad: 0,
        }
    }
    pub fn port(&self) -> u16 {
        u16::from_be_bytes(self.port)
    }
}

impl PrefixKey {
    pub fn new(addr: Ipv6Addr, len: u8) -> PrefixKey {
        PrefixKey {
            prefixlen: u32::from(len),
            addr: addr.octets(),
        }
    }
}

/// `enum xr_prefix_kind`: which relay function a managed prefix belongs
/// to; it selects the counter of the steered frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
pub enum PrefixKind {
    /// 2002::/16.
    SixToFour = 0,
    /// 2001::/32.
    Teredo = 1,
    /// The 6rd domain prefix.
    SixRd = 2,
    /// `relay.managed_prefixes` and `xrelayctl prefix add`.
    Operator = 3,
}

impl PrefixKind {
    pub const ALL: [PrefixKind; 4] = [
        PrefixKind::SixToFour,
        PrefixKind::Teredo,
        PrefixKind::SixRd,
        PrefixKind::Operator,
    ];

    /// The C enum member.
    pub const fn c_name(self) -> &'static str {
        match self {
            PrefixKind::SixToFour => "XR_PFX_SIXTO4",
            PrefixKind::Teredo => "XR_PFX_TEREDO",
            PrefixKind::SixRd => "XR_PFX_SIXRD",
            PrefixKind::Operator => "XR_PFX_OPERATOR",
        }
    }

    /// Stable lower-case name (CLI, JSON).
    pub const fn name(self) -> &'static str {
        match self {
            PrefixKind::SixToFour => "6to4",
            PrefixKind::Teredo => "teredo",
            PrefixKind::SixRd => "6rd",
            PrefixKind::Operator => "operator",
        }
    }

    pub fn from_u32(v: u32) -> Option<PrefixKind> {
        PrefixKind::ALL.into_iter().find(|k| *k as u32 == v)
    }
}

/// What a counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CounterGroup {
    /// A steered class: exactly one per frame sent toward a socket.
    Steered,
    /// A passed class: exactly one per frame left to the kernel by classification.
    Passed,
    /// A subset of the steered frames.
    Detail,
    /// The XDP action: exactly one per frame.
    Action,
}

macro_rules! counters {
    ($( $variant:ident = $c:literal, $name:literal, $group:ident, $doc:literal; )*) => {
        /// `enum xr_counter`: the slots of the per-CPU array `xr_counters`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u32)]
        pub enum Counter {
            $( #[doc = $doc] $variant, )*
        }

        impl Counter {
            /// Every counter in slot order.
            pub const ALL: &'static [Counter] = &[$(Counter::$variant),*];

            /// The C enum member (`XR_CNT_PROTO41`).
            pub const fn c_name(self) -> &'static str {
                match self { $(Counter::$variant => $c,)* }
            }

            /// Stable snake-case name: the C name without `XR_CNT_`, lower case.
            pub const fn name(self) -> &'static str {
                match self { $(Counter::$variant => $name,)* }
            }

            pub const fn group(self) -> CounterGroup {
                match self { $(Counter::$variant => CounterGroup::$group,)* }
            }

            /// One line for `counters show` and the metrics help text.
            pub const fn description(self) -> &'static str {
                match self { $(Counter::$variant => $doc,)* }
            }
        }
    };
}

counters! {
    Proto41 = "XR_CNT_PROTO41", "proto41", Steered,
        "IPv4 protocol 41 to a 6to4/6rd relay address (S4-01)";
    Teredo = "XR_CNT_TEREDO", "teredo", Steered,
        "IPv4 UDP to a Teredo relay address and port (T4-01)";
    Icmp4Err = "XR_CNT_ICMP4_ERR", "icmp4_err", Steered,
        "ICMPv4 error to a relay address (E-01..E-04)";
    Native6to4 = "XR_CNT_NATIVE_6TO4", "native_6to4", Steered,
        "IPv6 to 2002::/16";
    NativeTeredo = "XR_CNT_NATIVE_TEREDO", "native_teredo", Steered,
        "IPv6 to 2001::/32";
    Native6rd = "XR_CNT_NATIVE_6RD", "native_6rd", Steered,
        "IPv6 to the 6rd prefix";
    NativeOper = "XR_CNT_NATIVE_OPER", "native_oper", Steered,
        "IPv6 to an operator managed prefix";
    PassMalformed = "XR_CNT_PASS_MALFORMED", "pass_malformed", Passed,
        "passed: truncated header, IHL < 5 or wrong IP version";
    PassL2Mcast = "XR_CNT_PASS_L2_MCAST", "pass_l2_mcast", Passed,
        "passed: group destination MAC (C-01), e.g. ARP requests, ND";
    PassNotIp = "XR_CNT_PASS_NOT_IP", "pass_not_ip", Passed,
        "passed: neither IPv4 nor IPv6 (ARP replies, LLDP, QinQ)";
    PassV4 = "XR_CNT_PASS_V4", "pass_v4", Passed,
        "passed: IPv4 not for a relay service (BGP, SSH, echo)";
    PassV4Port = "XR_CNT_PASS_V4_PORT", "pass_v4_port", Passed,
        "passed: UDP to a Teredo address, another port";
    PassV6 = "XR_CNT_PASS_V6", "pass_v6", Passed,
        "passed: IPv6 outside the managed prefixes, or multicast";
    Frag = "XR_CNT_FRAG", "frag", Detail,
        "steered IPv4 fragments, reassembled by the dataplane (C-03)";
    Vlan = "XR_CNT_VLAN", "vlan", Detail,
        "steered frames with an 802.1Q tag";
    NoXsk = "XR_CNT_NO_XSK", "no_xsk", Detail,
        "steered class but no socket on the receive queue: passed";
    XdpRedirect = "XR_CNT_XDP_REDIRECT", "xdp_redirect", Action,
        "XDP_REDIRECT to the socket of the receive queue";
    XdpPass = "XR_CNT_XDP_PASS", "xdp_pass", Action,
        "XDP_PASS to the kernel";
}

impl Counter {
    /// `XR_CNT_MAX`: the number of slots.
    pub const COUNT: usize = Counter::ALL.len();

    /// The array index of this counter.
    pub const fn index(self) -> u32 {
        self as u32
    }
}

/// A `volatile const` global of the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConstInfo {
    pub name: &'static str,
    /// The value the object carries when the loader leaves it alone.
    pub default: u8,
}

/// `xr_cfg_sixto4`: steer protocol 41 to `xr_sixto4` addresses.
pub const CFG_SIXTO4: ConstInfo = ConstInfo {
    name: "xr_cfg_sixto4",
    default: 1,
};
/// `xr_cfg_teredo`: steer UDP to the `xr_teredo` address and port.
pub const CFG_TEREDO: ConstInfo = ConstInfo {
    name: "xr_cfg_teredo",
    default: 1,
};
/// `xr_cfg_native`: steer IPv6 to `xr_prefixes`.
pub const CFG_NATIVE: ConstInfo = ConstInfo {
    name: "xr_cfg_native",
    default: 1,
};
/// `xr_cfg_icmp4_err`: steer ICMPv4 errors to relay addresses.
pub const CFG_ICMP4_ERR: ConstInfo = ConstInfo {
    name: "xr_cfg_icmp4_err",
    default: 0,
};

/// Every load-time constant (all `__u8`).
pub const CONSTS: [ConstInfo; 4] = [CFG_SIXTO4, CFG_TEREDO, CFG_NATIVE, CFG_ICMP4_ERR];

/// A map as the C side defines it, for the ABI test and diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapSpec {
    pub name: &'static str,
    /// `BPF_MAP_TYPE_*` as written in the header.
    pub map_type: &'static str,
    /// C key and value types (`struct xr_v4_key`, `__u32`).
    pub key: &'static str,
    pub value: &'static str,
    pub key_size: usize,
    pub value_size: usize,
}

/// Every map of the program.
pub const MAPS: [MapSpec; 5] = [
    MapSpec {
        name: MAP_SIXTO4,
        map_type: "BPF_MAP_TYPE_HASH",
        key: "struct xr_v4_key",
        value: "struct xr_v4_val",
        key_size: size_of::<V4Key>(),
        value_size: size_of::<V4Val>(),
    },
    MapSpec {
        name: MAP_TEREDO,
        map_type: "BPF_MAP_TYPE_HASH",
        key: "struct xr_v4_key",
        value: "struct xr_teredo_val",
        key_size: size_of::<V4Key>(),
        value_size: size_of::<TeredoVal>(),
    },
    MapSpec {
        name: MAP_PREFIXES,
        map_type: "BPF_MAP_TYPE_LPM_TRIE",
        key: "struct xr_prefix_key",
        value: "struct xr_prefix_val",
        key_size: size_of::<PrefixKey>(),
        value_size: size_of::<PrefixVal>(),
    },
    MapSpec {
        name: MAP_XSKS,
        map_type: "BPF_MAP_TYPE_XSKMAP",
        key: "__u32",
        value: "__u32",
        key_size: 4,
        value_size: 4,
    },
    MapSpec {
        name: MAP_COUNTERS,
        map_type: "BPF_MAP_TYPE_PERCPU_ARRAY",
        key: "__u32",
        value: "__u64",
        key_size: 4,
        value_size: 8,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_names_follow_the_c_names() {
        for (i, c) in Counter::ALL.iter().enumerate() {
            assert_eq!(c.index() as usize, i);
            let expect = c
                .c_name()
                .strip_prefix("XR_CNT_")
                .map(str::to_ascii_lowercase);
            assert_eq!(Some(c.name().to_owned()), expect);
        }
    }

    #[test]
    fn names_fit_the_kernel() {
        for m in MAPS {
            assert!(m.name.len() <= 15, "{}", m.name);
            assert!(m.name.starts_with("xr_"));
        }
        assert!(PROGRAM.len() <= 15);
    }

    #[test]
    fn wire_order() {
        let k = V4Key::new(Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(k.addr, [192, 0, 2, 1]);
        assert_eq!(TeredoVal::new(3545).port, [0x0d, 0xd9]);
        assert_eq!(TeredoVal::new(3545).port(), 3545);
        let p = PrefixKey::new("2002::".parse().unwrap_or(Ipv6Addr::UNSPECIFIED), 16);
        assert_eq!((p.prefixlen, p.addr[0], p.addr[1]), (16, 0x20, 0x02));
    }
}
