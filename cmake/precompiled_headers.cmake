# Precompiled headers: on 2 cores a clean build spends most of its time parsing the same third-party
# headers (GoogleTest/GoogleMock, nlohmann_json, fmt, Boost.Asio/Beast) in every translation unit. Three
# holder targets precompile one header set each, once; the targets of a group reuse that PCH
# (REUSE_FROM), which CMake adds as a forced include.
#
# A forced include can hide a missing #include, so scripts/check-includes builds with CODER_PCH=OFF.
option(CODER_PCH "Precompile the third-party headers most translation units include" ON)

# Groups:
#   core    the standard library, fmt and nlohmann_json (harness layers, cli)
#   net     core + Boost.Asio and Beast (the server, the load driver, the benchmarks)
#   test    net + GoogleTest and GoogleMock (the test binaries)
set(coder_pch_core_headers <algorithm> <chrono> <cstdint> <filesystem> <functional> <map> <memory>
    <optional> <set> <string> <string_view> <thread> <utility> <vector> <fmt/format.h> <nlohmann/json.hpp>)
set(coder_pch_net_headers ${coder_pch_core_headers} <boost/asio.hpp> <boost/beast/core.hpp>
    <boost/beast/http.hpp> <boost/beast/websocket.hpp>)
set(coder_pch_test_headers ${coder_pch_net_headers} <gtest/gtest.h> <gmock/gmock.h>)

if(CODER_PCH)
  # With a precompiled header g++ 12 reports its middle-end warnings (-Warray-bounds, -Wstringop-*) at
  # locations inside the standard library's inlined code as if they were not system headers, where they
  # are the known false positives on std::string's copies (GCC bugs 105651, 106199). The non-PCH build
  # (scripts/check-includes) and clang's keep these warnings.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    add_compile_options(-Wno-array-bounds -Wno-stringop-overflow -Wno-stringop-overread)
  endif()
  set(coder_pch_groups core net)
  if(TARGET GTest::gtest)
    list(APPEND coder_pch_groups test)
  endif()
  foreach(group IN LISTS coder_pch_groups)
    add_library(coder_pch_${group} OBJECT ${PROJECT_SOURCE_DIR}/cmake/pch_holder.cc)
    target_link_libraries(coder_pch_${group} PRIVATE Boost::headers fmt::fmt nlohmann_json::nlohmann_json Threads::Threads)
    if(group STREQUAL "test")
      target_link_libraries(coder_pch_${group} PRIVATE GTest::gtest GTest::gmock)
    endif()
    target_precompile_headers(coder_pch_${group} PRIVATE ${coder_pch_${group}_headers})
  endforeach()
endif()

# coder_precompile(<target> <core|net|test>): the target's sources get the group's precompiled headers.
function(coder_precompile target group)
  if(NOT group MATCHES "^(core|net|test)$")
    message(FATAL_ERROR "coder_precompile: unknown group \"${group}\"")
  endif()
  if(CODER_PCH)
    target_precompile_headers(${target} REUSE_FROM coder_pch_${group})
  endif()
endfunction()
