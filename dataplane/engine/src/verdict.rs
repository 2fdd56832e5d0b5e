//! Verdicts, drop reasons and event counters.
//!
//! Every drop has a reason named after the SPEC §4 check that caught it
//! (`s4_05_spoofed_6to4_source`); the names are stable: they are Prometheus
//! label values and JSON keys. Non-drop happenings (frames relayed, ICMPv6
//! errors sent or suppressed, bubbles, queue flushes) are `Event`s.

/// Which side of the relay a frame arrived on or leaves by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Port {
    /// The IPv4-facing side (6to4 sites, Teredo clients and servers).
    #[default]
    V4,
    /// The IPv6-facing (native) side. Equal to `V4` in one-armed operation
    /// as far as the wire is concerned; the engine still tracks the role.
    V6,
}

/// What the caller does with a frame after the fast path looked at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Rewritten in place; transmit it on `Frame::tx_port`.
    Tx,
    /// Not relay traffic: hand it to the kernel unchanged.
    Pass,
    /// Discard; the reason's counter was incremented.
    Drop(DropReason),
    /// Unchanged; hand it to the slow path.
    Slow(SlowKind),
}

/// Work the fast path hands to the slow path. The frame is untouched, so the
/// slow path can quote it or re-run the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlowKind {
    /// The frame fails check `reason` and the relay answers with an ICMPv6
    /// error (S4-09, S4-10, S6-01, S6-07, S6-08, T4-12, T6-01, T6-06, T6-07).
    /// The drop counter has already moved.
    Icmp {
        reason: DropReason,
        error: IcmpError,
    },
    /// Echo Request to one of the relay's own addresses (S4-08, S6-04).
    Echo,
    /// Native IPv6 to a Teredo peer without a trusted, valid entry (T6-09).
    TeredoTx,
    /// Teredo packet that changes peer state or is a bubble (T4-07/T4-08/T4-09).
    TeredoRx,
    /// IPv4 fragment of relay traffic (C-03).
    Reassemble,
    /// ICMPv4 error to a relay address (E-01..E-04).
    Icmp4Error,
}

/// The ICMPv6 error to originate (RFC 4443).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpError {
    /// Type 3 code 0: hop limit exceeded in transit.
    TimeExceeded,
    /// Type 2 with this MTU.
    PacketTooBig(u16),
    /// Type 1 with this code.
    Unreachable(u8),
}

macro_rules! named_enum {
    ($(#[$m:meta])* $vis:vis enum $name:ident { $($(#[$vm:meta])* $var:ident => $s:literal,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        $vis enum $name { $($(#[$vm])* $var,)* }
        impl $name {
            /// Every variant, in declaration (= index) order.
            pub const ALL: &'static [$name] = &[$($name::$var,)*];
            /// Number of variants.
            pub const COUNT: usize = Self::ALL.len();
            /// Stable snake-case name.
            pub const fn name(self) -> &'static str {
                match self { $($name::$var => $s,)* }
            }
            /// Index into a counter array.
            #[inline]
            pub const fn index(self) -> usize {
                self as usize
            }
            /// Look a variant up by its name.
            pub fn from_name(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.name() == s)
            }
        }
        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

named_enum! {
    /// Why a frame was dropped; the prefix is the SPEC §4 check ID.
    pub enum DropReason {
        C02BadIpv4Header => "c_02_bad_ipv4_header",
        C03ReassemblyTimeout => "c_03_reassembly_timeout",
        C03ReassemblyOverflow => "c_03_reassembly_overflow",
        C03ReassemblyInvalid => "c_03_reassembly_invalid",
        C04OwnSource => "c_04_own_ipv4_source",
        C10BadIpv6 => "c_10_bad_ipv6_header",
        C16Congestion => "c_16_congestion",
        NoHeadroom => "no_headroom",
        S4_01bNotAnycastDst => "s4_01b_not_anycast_destination",
        S4_02BogonIpv4 => "s4_02_bogon_ipv4",
        S4_03BadInnerIpv6 => "s4_03_bad_inner_ipv6",
        S4_04BadIpv6Address => "s4_04_bad_ipv6_address",
        S4_05SpoofedSource => "s4_05_spoofed_6to4_source",
        S4_06NativeToNative => "s4_06_native_to_native",
        S4_07DestinationMismatch => "s4_07_6to4_destination_mismatch",
        S4_07bNotRelayAddress => "s4_07b_not_relay_address",
        S4_08bLocalNotEcho => "s4_08b_local_not_echo",
        S4_09HopLimit => "s4_09_hop_limit_exceeded",
        S4_10EgressMtu => "s4_10_exceeds_egress_mtu",
        S4_11EcnCeNotEct => "s4_11_ecn_ce_not_ect",
        S4_12NotAllowedClient => "s4_12_client_not_allowed",
        S4_14LoopAddress => "s4_14_loop_tunnel_address",
        S6_01Misrouted => "s6_01_misrouted",
        S6_02BadIpv6Address => "s6_02_bad_ipv6_address",
        S6_03BogonEmbedded => "s6_03_bogon_embedded_ipv4",
        S6_04OwnIpv4 => "s6_04_own_ipv4_destination",
        S6_04bAnycastBlock => "s6_04b_anycast_block_destination",
        S6_05SpoofedSource => "s6_05_spoofed_6to4_source",
        S6_06LoopAddress => "s6_06_loop_tunnel_address",
        S6_07HopLimit => "s6_07_hop_limit_exceeded",
        S6_08TunnelMtu => "s6_08_exceeds_tunnel_mtu",
        S6_09NotAllowedSource => "s6_09_source_not_allowed",
        T4_02BadUdp => "t4_02_bad_udp",
        T4_03BogonSource => "t4_03_bogon_ipv4_source",
        T4_04BadPayload => "t4_04_bad_teredo_payload",
        T4_05NotTeredoSource => "t4_05_not_teredo_source",
        T4_06MappingMismatch => "t4_06_mapping_mismatch",
        T4_07UnknownPeer => "t4_07_unknown_peer",
        T4_10MulticastDst => "t4_10_multicast_destination",
        T4_11OutsideServed => "t4_11_outside_served_range",
        T4_12HopLimit => "t4_12_hop_limit_exceeded",
        T4_14ZeroPort => "t4_14_zero_source_port",
        T6_01NotTeredo => "t6_01_not_teredo_destination",
        T6_02MulticastDst => "t6_02_multicast_destination",
        T6_03BogonServer => "t6_03_bogon_server_ipv4",
        T6_04BogonClient => "t6_04_bogon_client_ipv4",
        T6_05BadSource => "t6_05_bad_source",
        T6_06HopLimit => "t6_06_hop_limit_exceeded",
        T6_07TeredoMtu => "t6_07_exceeds_teredo_mtu",
        T6_10BubbleBudget => "t6_10_bubble_budget_exhausted",
        T6_11QueueFull => "t6_11_queue_full",
        T6_12PeerTableFull => "t6_12_peer_table_full",
        T6_12NewPeerRate => "t6_12_new_peer_rate_limited",
        T6_13OwnIpv4 => "t6_13_own_ipv4_destination",
        E01FragNeeded => "e_01_icmp4_frag_needed",
        E02Translated => "e_02_icmp4_translated",
        E03Ignored => "e_03_icmp4_ignored",
        E04Teredo => "e_04_icmp4_teredo",
        TooBigForFrame => "too_big_for_frame",
    }
}

named_enum! {
    /// Counted happenings that are not drops.
    pub enum Event {
        RxFrames => "rx_frames",
        PassNotIp => "pass_not_ip",
        PassNotOurs => "pass_not_ours",
        PassL2Multicast => "pass_l2_multicast",
        PassNotRelayProto => "pass_not_relay_protocol",
        PassMisrouted => "pass_misrouted",
        SixToFourDecap => "sixto4_decap",
        SixToFourEncap => "sixto4_encap",
        SixRdHairpin => "sixrd_hairpin",
        TeredoRx => "teredo_rx",
        TeredoTx => "teredo_tx",
        SixToFourToTeredo => "sixto4_to_teredo",
        TeredoToSixToFour => "teredo_to_sixto4",
        TeredoToTeredo => "teredo_to_teredo",
        EcnCeMarked => "ecn_ce_marked",
        SlowHandoff => "slow_handoff",
        Icmp6TimeExceeded => "icmp6_time_exceeded_sent",
        Icmp6PacketTooBig => "icmp6_packet_too_big_sent",
        Icmp6Unreachable => "icmp6_unreachable_sent",
        Icmp6EchoReply => "icmp6_echo_reply_sent",
        Icmp6Suppressed => "icmp6_suppressed_c_14",
        Icmp6RateLimited => "icmp6_rate_limited_c_15",
        EchoRateLimited => "icmp6_echo_rate_limited",
        BubbleIndirect => "teredo_bubble_indirect_sent",
        BubbleDirect => "teredo_bubble_direct_sent",
        BubbleRx => "teredo_bubble_received",
        BubbleDeferred => "teredo_bubble_deferred",
        PeerCreated => "teredo_peer_created",
        PeerTrusted => "teredo_peer_trusted",
        PeerEvicted => "teredo_peer_evicted",
        PeerExpired => "teredo_peer_failed",
        PeerRebound => "teredo_peer_rebound",
        Queued => "teredo_queued",
        QueueFlushed => "teredo_queue_flushed",
        Reassembled => "ipv4_reassembled",
        FragmentHeld => "ipv4_fragment_held",
    }
}

impl Verdict {
    /// Shorthand used by tests and the offline mode.
    pub const fn is_drop(&self) -> bool {
        matches!(self, Verdict::Drop(_))
    }
}
