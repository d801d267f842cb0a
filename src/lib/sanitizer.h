/* Whether this build runs under AddressSanitizer (gcc's -fsanitize=address defines
 * __SANITIZE_ADDRESS__; clang says so through __has_feature): code that the sanitizer's own
 * needs constrain (a pooled buffer hides a use after free, LeakSanitizer's tracer needs
 * ptrace and /proc) asks here. */
#ifndef GUREUM_LIB_SANITIZER_H
#define GUREUM_LIB_SANITIZER_H

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZER_BUILD 1
#endif
#endif
#ifndef SANITIZER_BUILD
#define SANITIZER_BUILD 0
#endif

#endif
