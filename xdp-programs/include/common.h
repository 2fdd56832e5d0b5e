/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * Includes and helpers every other header of the steering program uses.
 * Built with `clang -O2 -g -target bpf -Wall -Werror` (build.rs).
 */
#ifndef XR_COMMON_H
#define XR_COMMON_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define xr_inline static __always_inline

#endif /* XR_COMMON_H */
