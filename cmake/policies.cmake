# Build policy as INTERFACE targets, linked PRIVATE by every project target.

add_library(portdemo_warnings INTERFACE)
add_library(portdemo::warnings ALIAS portdemo_warnings)
target_compile_options(portdemo_warnings INTERFACE
  -Wall -Wextra             # the usual set
  -Wpedantic                # standard C++ only
  -Wshadow                  # a local hiding a member is a classic session-state bug
  -Wconversion -Wsign-conversion  # ports are uint16_t: narrowing must be explicit
  -Wnon-virtual-dtor
  -Wold-style-cast
  -Wimplicit-fallthrough
  # GCC 12 misreads Asio's coroutine-frame allocator (awaitable_frame_base's operator new/delete
  # pair) as mismatched, depending on inlining; clang and GCC 13 do not. A false positive.
  $<$<CXX_COMPILER_ID:GNU>:-Wno-mismatched-new-delete>
  $<$<BOOL:${PORTDEMO_WERROR}>:-Werror>)

option(PORTDEMO_WERROR "Treat warnings as errors" OFF)

set(PORTDEMO_SANITIZE "" CACHE STRING "Sanitizers to build with: address,undefined (preset asan) or thread (preset tsan)")
add_library(portdemo_sanitizers INTERFACE)
add_library(portdemo::sanitizers ALIAS portdemo_sanitizers)
if(PORTDEMO_SANITIZE)
  target_compile_options(portdemo_sanitizers INTERFACE
    -fsanitize=${PORTDEMO_SANITIZE}
    -fno-omit-frame-pointer)    # readable stacks in reports
  if(PORTDEMO_SANITIZE MATCHES "undefined")
    # UBSan reports and carries on by default: a finding must fail the test instead of
    # scrolling past. (ASan stops anyway; TSan stops with TSAN_OPTIONS=halt_on_error=1, which
    # the tsan test preset sets.)
    target_compile_options(portdemo_sanitizers INTERFACE -fno-sanitize-recover=all)
  endif()
  target_link_options(portdemo_sanitizers INTERFACE -fsanitize=${PORTDEMO_SANITIZE})
endif()
