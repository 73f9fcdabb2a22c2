/* idc.h still includes <stdint.h> and <stddef.h> unconditionally: making it kernel-ready is the
 * runtime's part of the kernel build. Until then these empty stand-ins let the kernel-mode
 * compile of the codec reach idc.h; the types come from <linux/types.h>, included first. */
