/*
 * reserved.h - identifiers the generated C cannot use, as one X-macro list (names.c).
 *
 *     IDLC_RESERVED(NAME, KIND, SOURCE)
 *
 * KIND is WORD, MACRO or PREDEF:
 *   WORD   a C keyword, or a name C gives a meaning (types, NULL, true...). Refused as any IDL
 *          name (sema.c), so a protocol reads as plain C would: "field name 'int' is a reserved
 *          word in C".
 *   MACRO  a macro of a header the generated C is compiled with (<stdint.h>, <stddef.h>,
 *          <stdbool.h>, <string.h>, <stdlib.h> in the endpoint glue, what glibc's <stdlib.h>
 *          pulls in by default, their kernel counterparts under __KERNEL__ and the errno names
 *          these bring along). Refused wherever the spelling reaches the C: as a field name (a
 *          struct member), or as a generated identifier (protocol "size" with "const MAX"
 *          would define SIZE_MAX).
 *   PREDEF a macro the compiler predefines in GNU modes (every kernel build is one); refused
 *          like MACRO.
 * SOURCE says where the name comes from, for the diagnostic: the header, or the compiler.
 *
 * Names starting with "__" or "_" and a capital letter are reserved by C and refused as a rule,
 * so the many such macros of the headers are not listed.
 */

#define IDLC_STDINT_WIDTH(N)                                  \
    IDLC_RESERVED(INT##N##_MIN, MACRO, "<stdint.h>")          \
    IDLC_RESERVED(INT##N##_MAX, MACRO, "<stdint.h>")          \
    IDLC_RESERVED(UINT##N##_MAX, MACRO, "<stdint.h>")         \
    IDLC_RESERVED(INT##N##_WIDTH, MACRO, "<stdint.h>")        \
    IDLC_RESERVED(UINT##N##_WIDTH, MACRO, "<stdint.h>")       \
    IDLC_RESERVED(INT_LEAST##N##_MIN, MACRO, "<stdint.h>")    \
    IDLC_RESERVED(INT_LEAST##N##_MAX, MACRO, "<stdint.h>")    \
    IDLC_RESERVED(UINT_LEAST##N##_MAX, MACRO, "<stdint.h>")   \
    IDLC_RESERVED(INT_LEAST##N##_WIDTH, MACRO, "<stdint.h>")  \
    IDLC_RESERVED(UINT_LEAST##N##_WIDTH, MACRO, "<stdint.h>") \
    IDLC_RESERVED(INT_FAST##N##_MIN, MACRO, "<stdint.h>")     \
    IDLC_RESERVED(INT_FAST##N##_MAX, MACRO, "<stdint.h>")     \
    IDLC_RESERVED(UINT_FAST##N##_MAX, MACRO, "<stdint.h>")    \
    IDLC_RESERVED(INT_FAST##N##_WIDTH, MACRO, "<stdint.h>")   \
    IDLC_RESERVED(UINT_FAST##N##_WIDTH, MACRO, "<stdint.h>")  \
    IDLC_RESERVED(INT##N##_C, MACRO, "<stdint.h>")            \
    IDLC_RESERVED(UINT##N##_C, MACRO, "<stdint.h>")

/* C keywords (C11, plus asm and typeof, which GNU C and C23 add) */
IDLC_RESERVED(auto, WORD, "C")
IDLC_RESERVED(break, WORD, "C")
IDLC_RESERVED(case, WORD, "C")
IDLC_RESERVED(char, WORD, "C")
IDLC_RESERVED(const, WORD, "C")
IDLC_RESERVED(continue, WORD, "C")
IDLC_RESERVED(default, WORD, "C")
IDLC_RESERVED(do, WORD, "C")
IDLC_RESERVED(double, WORD, "C")
IDLC_RESERVED(else, WORD, "C")
IDLC_RESERVED(enum, WORD, "C")
IDLC_RESERVED(extern, WORD, "C")
IDLC_RESERVED(float, WORD, "C")
IDLC_RESERVED(for, WORD, "C")
IDLC_RESERVED(goto, WORD, "C")
IDLC_RESERVED(if, WORD, "C")
IDLC_RESERVED(inline, WORD, "C")
IDLC_RESERVED(int, WORD, "C")
IDLC_RESERVED(long, WORD, "C")
IDLC_RESERVED(register, WORD, "C")
IDLC_RESERVED(restrict, WORD, "C")
IDLC_RESERVED(return, WORD, "C")
IDLC_RESERVED(short, WORD, "C")
IDLC_RESERVED(signed, WORD, "C")
IDLC_RESERVED(sizeof, WORD, "C")
IDLC_RESERVED(static, WORD, "C")
IDLC_RESERVED(struct, WORD, "C")
IDLC_RESERVED(switch, WORD, "C")
IDLC_RESERVED(typedef, WORD, "C")
IDLC_RESERVED(union, WORD, "C")
IDLC_RESERVED(unsigned, WORD, "C")
IDLC_RESERVED(void, WORD, "C")
IDLC_RESERVED(volatile, WORD, "C")
IDLC_RESERVED(while, WORD, "C")
IDLC_RESERVED(asm, WORD, "C")
IDLC_RESERVED(typeof, WORD, "C")
/* names C gives a meaning: macros of <stdbool.h>, <stddef.h>, <assert.h>, <errno.h>,
   <stdalign.h>, <stdnoreturn.h>, <threads.h> (keywords in C23), and the standard types */
IDLC_RESERVED(true, WORD, "C")
IDLC_RESERVED(false, WORD, "C")
IDLC_RESERVED(NULL, WORD, "C")
IDLC_RESERVED(bool, WORD, "C")
IDLC_RESERVED(errno, WORD, "C")
IDLC_RESERVED(assert, WORD, "C")
IDLC_RESERVED(offsetof, WORD, "C")
IDLC_RESERVED(alignas, WORD, "C")
IDLC_RESERVED(alignof, WORD, "C")
IDLC_RESERVED(noreturn, WORD, "C")
IDLC_RESERVED(static_assert, WORD, "C")
IDLC_RESERVED(thread_local, WORD, "C")
IDLC_RESERVED(int8_t, WORD, "C")
IDLC_RESERVED(int16_t, WORD, "C")
IDLC_RESERVED(int32_t, WORD, "C")
IDLC_RESERVED(int64_t, WORD, "C")
IDLC_RESERVED(uint8_t, WORD, "C")
IDLC_RESERVED(uint16_t, WORD, "C")
IDLC_RESERVED(uint32_t, WORD, "C")
IDLC_RESERVED(uint64_t, WORD, "C")
IDLC_RESERVED(size_t, WORD, "C")
IDLC_RESERVED(uintptr_t, WORD, "C")
IDLC_RESERVED(intptr_t, WORD, "C")
IDLC_RESERVED(ptrdiff_t, WORD, "C")

/* <stdint.h> */
IDLC_STDINT_WIDTH(8)
IDLC_STDINT_WIDTH(16)
IDLC_STDINT_WIDTH(32)
IDLC_STDINT_WIDTH(64)
IDLC_RESERVED(INTPTR_MIN, MACRO, "<stdint.h>")
IDLC_RESERVED(INTPTR_MAX, MACRO, "<stdint.h>")
IDLC_RESERVED(UINTPTR_MAX, MACRO, "<stdint.h>")
IDLC_RESERVED(INTPTR_WIDTH, MACRO, "<stdint.h>")
IDLC_RESERVED(UINTPTR_WIDTH, MACRO, "<stdint.h>")
IDLC_RESERVED(INTMAX_MIN, MACRO, "<stdint.h>")
IDLC_RESERVED(INTMAX_MAX, MACRO, "<stdint.h>")
IDLC_RESERVED(UINTMAX_MAX, MACRO, "<stdint.h>")
IDLC_RESERVED(INTMAX_WIDTH, MACRO, "<stdint.h>")
IDLC_RESERVED(UINTMAX_WIDTH, MACRO, "<stdint.h>")
IDLC_RESERVED(INTMAX_C, MACRO, "<stdint.h>")
IDLC_RESERVED(UINTMAX_C, MACRO, "<stdint.h>")
IDLC_RESERVED(PTRDIFF_MIN, MACRO, "<stdint.h>")
IDLC_RESERVED(PTRDIFF_MAX, MACRO, "<stdint.h>")
IDLC_RESERVED(PTRDIFF_WIDTH, MACRO, "<stdint.h>")
IDLC_RESERVED(SIG_ATOMIC_MIN, MACRO, "<stdint.h>")
IDLC_RESERVED(SIG_ATOMIC_MAX, MACRO, "<stdint.h>")
IDLC_RESERVED(SIG_ATOMIC_WIDTH, MACRO, "<stdint.h>")
IDLC_RESERVED(SIZE_MAX, MACRO, "<stdint.h>")
IDLC_RESERVED(SIZE_WIDTH, MACRO, "<stdint.h>")
IDLC_RESERVED(WCHAR_MIN, MACRO, "<stdint.h>")
IDLC_RESERVED(WCHAR_MAX, MACRO, "<stdint.h>")
IDLC_RESERVED(WCHAR_WIDTH, MACRO, "<stdint.h>")
IDLC_RESERVED(WINT_MIN, MACRO, "<stdint.h>")
IDLC_RESERVED(WINT_MAX, MACRO, "<stdint.h>")
IDLC_RESERVED(WINT_WIDTH, MACRO, "<stdint.h>")

/* <stdlib.h> (endpoint glue), with what glibc's pulls in by default: <sys/types.h>,
   <endian.h>, <sys/select.h>, <alloca.h> and the wait status macros */
IDLC_RESERVED(EXIT_SUCCESS, MACRO, "<stdlib.h>")
IDLC_RESERVED(EXIT_FAILURE, MACRO, "<stdlib.h>")
IDLC_RESERVED(RAND_MAX, MACRO, "<stdlib.h>")
IDLC_RESERVED(MB_CUR_MAX, MACRO, "<stdlib.h>")
IDLC_RESERVED(alloca, MACRO, "<stdlib.h>")
IDLC_RESERVED(WEXITSTATUS, MACRO, "<stdlib.h>")
IDLC_RESERVED(WTERMSIG, MACRO, "<stdlib.h>")
IDLC_RESERVED(WSTOPSIG, MACRO, "<stdlib.h>")
IDLC_RESERVED(WIFEXITED, MACRO, "<stdlib.h>")
IDLC_RESERVED(WIFSIGNALED, MACRO, "<stdlib.h>")
IDLC_RESERVED(WIFSTOPPED, MACRO, "<stdlib.h>")
IDLC_RESERVED(WIFCONTINUED, MACRO, "<stdlib.h>")
IDLC_RESERVED(WCOREDUMP, MACRO, "<stdlib.h>")
IDLC_RESERVED(LITTLE_ENDIAN, MACRO, "<stdlib.h>")
IDLC_RESERVED(BIG_ENDIAN, MACRO, "<stdlib.h>")
IDLC_RESERVED(PDP_ENDIAN, MACRO, "<stdlib.h>")
IDLC_RESERVED(BYTE_ORDER, MACRO, "<stdlib.h>")
IDLC_RESERVED(FD_SETSIZE, MACRO, "<stdlib.h>")
IDLC_RESERVED(NFDBITS, MACRO, "<stdlib.h>")
IDLC_RESERVED(FD_SET, MACRO, "<stdlib.h>")
IDLC_RESERVED(FD_CLR, MACRO, "<stdlib.h>")
IDLC_RESERVED(FD_ISSET, MACRO, "<stdlib.h>")
IDLC_RESERVED(FD_ZERO, MACRO, "<stdlib.h>")

/* <string.h> (glibc, _GNU_SOURCE) */
IDLC_RESERVED(strdupa, MACRO, "<string.h>")
IDLC_RESERVED(strndupa, MACRO, "<string.h>")

/* the kernel headers used under __KERNEL__ (<linux/types.h>, <linux/stddef.h>,
   <linux/string.h>): the ones a field could plausibly be called */
IDLC_RESERVED(DECLARE_BITMAP, MACRO, "<linux/types.h>")
IDLC_RESERVED(sizeof_field, MACRO, "<linux/stddef.h>")
IDLC_RESERVED(offsetofend, MACRO, "<linux/stddef.h>")
IDLC_RESERVED(struct_group, MACRO, "<linux/stddef.h>")

/* predefined by GCC and Clang in the GNU modes (-std=gnu11, and every kernel build) */
IDLC_RESERVED(linux, PREDEF, "GCC and Clang in GNU C modes")
IDLC_RESERVED(unix, PREDEF, "GCC and Clang in GNU C modes")
IDLC_RESERVED(i386, PREDEF, "GCC and Clang in GNU C modes on 32-bit x86")

/* errno names: the user-space build does not include <errno.h>, but kernel headers bring
   <linux/errno.h> along; refusing them everywhere keeps one rule for both builds */
IDLC_RESERVED(EPERM, MACRO, "<linux/errno.h>")
IDLC_RESERVED(ENOENT, MACRO, "<linux/errno.h>")
IDLC_RESERVED(ESRCH, MACRO, "<linux/errno.h>")
IDLC_RESERVED(EINTR, MACRO, "<linux/errno.h>")
IDLC_RESERVED(EIO, MACRO, "<linux/errno.h>")
IDLC_RESERVED(ENXIO, MACRO, "<linux/errno.h>")
IDLC_RESERVED(E2BIG, MACRO, "<linux/errno.h>")
IDLC_RESERVED(ENOEXEC, MACRO, "<linux/errno.h>")
IDLC_RESERVED(EBADF, MACRO, "<linux/errno.h>")
IDLC_RESERVED(ECHILD, MACRO, "<linux/errno.h>")
IDLC_RESERVED(EAGAIN, MACRO, "<linux/errno.h>")
IDLC_RESERVED(ENOMEM, MACRO, "<linux/errno.h>")
IDLC_RESERVED(EACCES, MACRO, "<linux/errno.h>")
IDLC_RESERVED(EFAULT, MACRO, "<linux/errno.h>")
IDLC_RESERVED(EBUSY, MACRO, "<linux/errno.h>")
IDLC_RESERVED(EEXIST, MACRO, "<linux/errno.h>")
IDLC_RESERVED(EXDEV, MACRO, "<linux/errno.h>")
IDLC_RESERVED(ENODEV, MACRO, "<linux/errno.h>")
IDLC_RESERVED(ENOTDIR, MACRO, "<linux/errno.h>")
IDLC_RESERVED(EISDIR, MACRO, "<linux/errno.h>")
IDLC_RESERVED(EINVAL, MACRO, "<linux/errno.h>")
IDLC_RESERVED(ENFILE, MACRO, "<linux/errno.h>")
IDLC_RESERVED(EMFILE, MACRO, "<linux/errno.h>")
IDLC_RESERVED(ENOTTY, MACRO, "<linux/errno.h>")
IDLC_RESERVED(EFBIG, MACRO, "<linux/errno.h>")
IDLC_RESERVED(ENOSPC, MACRO, "<linux/errno.h>")
IDLC_RESERVED(ESPIPE, MACRO, "<linux/errno.h>")
IDLC_RESERVED(EROFS, MACRO, "<linux/errno.h>")
IDLC_RESERVED(EMLINK, MACRO, "<linux/errno.h>")
IDLC_RESERVED(EPIPE, MACRO, "<linux/errno.h>")
IDLC_RESERVED(EDOM, MACRO, "<linux/errno.h>")
IDLC_RESERVED(ERANGE, MACRO, "<linux/errno.h>")
IDLC_RESERVED(EDEADLK, MACRO, "<linux/errno.h>")
IDLC_RESERVED(ENAMETOOLONG, MACRO, "<linux/errno.h>")
IDLC_RESERVED(ENOLCK, MACRO, "<linux/errno.h>")
IDLC_RESERVED(ENOSYS, MACRO, "<linux/errno.h>")
IDLC_RESERVED(ENOTEMPTY, MACRO, "<linux/errno.h>")
IDLC_RESERVED(ELOOP, MACRO, "<linux/errno.h>")
IDLC_RESERVED(EWOULDBLOCK, MACRO, "<linux/errno.h>")
IDLC_RESERVED(ENOMSG, MACRO, "<linux/errno.h>")
IDLC_RESERVED(EIDRM, MACRO, "<linux/errno.h>")
IDLC_RESERVED(ENODATA, MACRO, "<linux/errno.h>")
IDLC_RESERVED(ETIME, MACRO, "<linux/errno.h>")
IDLC_RESERVED(ENOLINK, MACRO, "<linux/errno.h>")
IDLC_RESERVED(EPROTO, MACRO, "<linux/errno.h>")
IDLC_RESERVED(EBADMSG, MACRO, "<linux/errno.h>")
IDLC_RESERVED(EOVERFLOW, MACRO, "<linux/errno.h>")
IDLC_RESERVED(EILSEQ, MACRO, "<linux/errno.h>")
IDLC_RESERVED(ENOTSOCK, MACRO, "<linux/errno.h>")
IDLC_RESERVED(EDESTADDRREQ, MACRO, "<linux/errno.h>")
IDLC_RESERVED(EMSGSIZE, MACRO, "<linux/errno.h>")
IDLC_RESERVED(EPROTOTYPE, MACRO, "<linux/errno.h>")
IDLC_RESERVED(ENOPROTOOPT, MACRO, "<linux/errno.h>")
IDLC_RESERVED(EPROTONOSUPPORT, MACRO, "<linux/errno.h>")
IDLC_RESERVED(EOPNOTSUPP, MACRO, "<linux/errno.h>")
IDLC_RESERVED(ENOTSUP, MACRO, "<linux/errno.h>")
IDLC_RESERVED(EAFNOSUPPORT, MACRO, "<linux/errno.h>")
IDLC_RESERVED(EADDRINUSE, MACRO, "<linux/errno.h>")
IDLC_RESERVED(EADDRNOTAVAIL, MACRO, "<linux/errno.h>")
IDLC_RESERVED(ENETDOWN, MACRO, "<linux/errno.h>")
IDLC_RESERVED(ENETUNREACH, MACRO, "<linux/errno.h>")
IDLC_RESERVED(ENETRESET, MACRO, "<linux/errno.h>")
IDLC_RESERVED(ECONNABORTED, MACRO, "<linux/errno.h>")
IDLC_RESERVED(ECONNRESET, MACRO, "<linux/errno.h>")
IDLC_RESERVED(ENOBUFS, MACRO, "<linux/errno.h>")
IDLC_RESERVED(EISCONN, MACRO, "<linux/errno.h>")
IDLC_RESERVED(ENOTCONN, MACRO, "<linux/errno.h>")
IDLC_RESERVED(ETIMEDOUT, MACRO, "<linux/errno.h>")
IDLC_RESERVED(ECONNREFUSED, MACRO, "<linux/errno.h>")
IDLC_RESERVED(EHOSTUNREACH, MACRO, "<linux/errno.h>")
IDLC_RESERVED(EALREADY, MACRO, "<linux/errno.h>")
IDLC_RESERVED(EINPROGRESS, MACRO, "<linux/errno.h>")
IDLC_RESERVED(ESTALE, MACRO, "<linux/errno.h>")
IDLC_RESERVED(EDQUOT, MACRO, "<linux/errno.h>")
IDLC_RESERVED(ECANCELED, MACRO, "<linux/errno.h>")
IDLC_RESERVED(EOWNERDEAD, MACRO, "<linux/errno.h>")
IDLC_RESERVED(ENOTRECOVERABLE, MACRO, "<linux/errno.h>")

#undef IDLC_STDINT_WIDTH
