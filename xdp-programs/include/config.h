/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * Static settings: load-time constants. The loader overwrites them in
 * .rodata before the program is verified (aya `override_global`), so the
 * verifier prunes the branches of a disabled class. Addresses and prefixes
 * are not here: they live in maps (maps.h) that change at run time.
 *
 * Each is a __u8, 0 or 1; the Rust mirror is `xrelay_xdp::Settings`.
 */
#ifndef XR_CONFIG_H
#define XR_CONFIG_H

#include "common.h"

/* Steer IPv4 protocol 41 to the addresses in xr_sixto4 (S4-01). */
volatile const __u8 xr_cfg_sixto4 = 1;
/* Steer IPv4 UDP to the address and port in xr_teredo (T4-01). */
volatile const __u8 xr_cfg_teredo = 1;
/* Steer IPv6 whose destination is in xr_prefixes (managed prefixes). */
volatile const __u8 xr_cfg_native = 1;
/*
 * Steer ICMPv4 errors (types 3, 11, 12; not fragmented) to a relay
 * address, which the engine hands to its slow path (E-01..E-04). Off
 * unless the loader turns it on.
 */
volatile const __u8 xr_cfg_icmp4_err = 0;

#endif /* XR_CONFIG_H */
