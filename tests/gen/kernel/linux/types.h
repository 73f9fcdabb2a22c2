/* Stand-in for the kernel's <linux/types.h>, with only what the generated codec relies on, so
 * the gen suite can compile it the way kbuild would (-nostdinc -D__KERNEL__ -std=gnu89). */
#ifndef STUB_LINUX_TYPES_H
#define STUB_LINUX_TYPES_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef signed char s8;
typedef short s16;
typedef int s32;
typedef long long s64;

typedef u8 uint8_t;
typedef u16 uint16_t;
typedef u32 uint32_t;
typedef u64 uint64_t;
typedef s8 int8_t;
typedef s16 int16_t;
typedef s32 int32_t;
typedef s64 int64_t;
typedef unsigned long uintptr_t;
typedef _Bool bool;
typedef unsigned long size_t;

#endif
