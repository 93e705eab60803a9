# vane_library(NAME DIR DEPS...): a static library from every .cc under src/DIR.
# Sources are globbed so that a new file needs no CMake edit.
function(vane_library name dir)
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/${dir}/*.cc)
  if(NOT srcs)
    # A folder whose code has not landed yet is a header-only placeholder.
    add_library(${name} INTERFACE)
    target_include_directories(${name} INTERFACE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/bpf/include)
    target_link_libraries(${name} INTERFACE ${ARGN})
    return()
  endif()
  add_library(${name} STATIC ${srcs})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/bpf/include)
  target_compile_options(${name} PRIVATE ${VANE_WARNINGS})
  target_link_libraries(${name} PUBLIC ${ARGN})
endfunction()

# Test programs are the bulk of the build, and most of their compile time is parsing GoogleTest and
# Asio: they build from a precompiled header. (-O1 would save more, but GCC 12 then reports a false
# -Warray-bounds inside libstdc++'s string code.) VANE_TEST_PCH=OFF for tools that cannot read a PCH.
# One header is precompiled for all of them (vane_test_pch, tests/CMakeLists.txt): each costs about
# 16 CPU-seconds and 240 MB. GCC refuses a PCH when a macro it mentions is defined differently, so
# every test program gets the same Boost and GoogleTest definitions as the PCH (the project's own
# VANE_* definitions appear in none of these headers and may differ).
option(VANE_TEST_PCH "Precompile GoogleTest and Asio headers for the test programs" ON)
function(vane_test_flags target)
  target_compile_options(${target} PRIVATE ${VANE_WARNINGS})
  if(VANE_TEST_PCH)
    target_link_libraries(${target} PRIVATE Boost::headers GTest::gtest)
    target_precompile_headers(${target} REUSE_FROM vane_test_pch)
  endif()
endfunction()

# vane_unit_tests(AREA DEPS...): one test program per area from tests/unit/AREA/*_test.cc.
function(vane_unit_tests area)
  file(GLOB srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/unit/${area}/*_test.cc)
  if(NOT srcs)
    return()
  endif()
  set(exe vane_${area}_tests)
  add_executable(${exe} ${srcs})
  vane_test_flags(${exe})
  target_include_directories(${exe} PRIVATE ${PROJECT_SOURCE_DIR}/tests/unit)
  target_link_libraries(${exe} PRIVATE ${ARGN} GTest::gtest GTest::gmock GTest::gtest_main)
  target_compile_definitions(${exe} PRIVATE
    VANE_SOURCE_DIR="${PROJECT_SOURCE_DIR}" VANE_BINARY_DIR="${PROJECT_BINARY_DIR}")
  gtest_discover_tests(${exe}
    TEST_PREFIX "${area}."
    PROPERTIES LABELS unit SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\]"
    DISCOVERY_TIMEOUT 30)
endfunction()
