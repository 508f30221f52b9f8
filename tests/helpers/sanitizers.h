#pragma once

// Which sanitizer this binary is built with, for the few tests whose claim is about the release build's
// timing or memory (README, "Sanitizers and fuzzing"). g++ defines __SANITIZE_*__; clang 14 only answers
// __has_feature.
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CODER_ADDRESS_SANITIZER 1
#endif
#if __has_feature(thread_sanitizer)
#define CODER_THREAD_SANITIZER 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(CODER_ADDRESS_SANITIZER)
#define CODER_ADDRESS_SANITIZER 1
#endif
#if defined(__SANITIZE_THREAD__) && !defined(CODER_THREAD_SANITIZER)
#define CODER_THREAD_SANITIZER 1
#endif
#ifndef CODER_ADDRESS_SANITIZER
#define CODER_ADDRESS_SANITIZER 0
#endif
#ifndef CODER_THREAD_SANITIZER
#define CODER_THREAD_SANITIZER 0
#endif

namespace coder::sanitizer {

inline constexpr bool kAddress = CODER_ADDRESS_SANITIZER;
inline constexpr bool kThread = CODER_THREAD_SANITIZER;

}  // namespace coder::sanitizer
