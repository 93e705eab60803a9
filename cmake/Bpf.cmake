# BPF programs: compiled with clang -target bpf, turned into a libbpf skeleton by bpftool and
# embedded in whatever links the NAME_skel target. Nothing is loaded from a path at run time.
find_program(BPF_CLANG NAMES clang-14 clang REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /usr/local/sbin REQUIRED)
execute_process(COMMAND ${CMAKE_C_COMPILER} -print-multiarch
  OUTPUT_VARIABLE VANE_MULTIARCH OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT VANE_MULTIARCH)
  set(VANE_MULTIARCH x86_64-linux-gnu)
endif()

# vane_bpf_skeleton(NAME SOURCE [CLANG_FLAG...]): builds NAME.bpf.o and NAME.skel.h; target NAME_skel.
function(vane_bpf_skeleton name src)
  set(obj ${CMAKE_CURRENT_BINARY_DIR}/${name}.bpf.o)
  set(skel_dir ${CMAKE_CURRENT_BINARY_DIR}/skel)
  set(skel ${skel_dir}/${name}.skel.h)
  file(GLOB_RECURSE hdrs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/bpf/*.h)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${BPF_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_x86 -mcpu=v3
            -Wall -Wextra -Werror -Wno-unused-parameter -Wno-compare-distinct-pointer-types
            -I${PROJECT_SOURCE_DIR}/bpf/include -I${PROJECT_SOURCE_DIR}/bpf
            -idirafter /usr/include/${VANE_MULTIARCH} ${ARGN}
            -c ${src} -o ${obj}
    DEPENDS ${src} ${hdrs}
    COMMENT "BPF ${name}"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${skel_dir}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${name} > ${skel}
    DEPENDS ${obj}
    COMMENT "BPF skeleton ${name}"
    VERBATIM)
  add_custom_target(${name}_skel_gen DEPENDS ${skel})
  add_library(${name}_skel INTERFACE)
  # SYSTEM: a generated skeleton embeds the ELF as one long string literal and trips warnings
  # (overlength strings, pedantic, unused parameters) that are bpftool's, not ours.
  target_include_directories(${name}_skel SYSTEM INTERFACE ${skel_dir})
  target_include_directories(${name}_skel INTERFACE ${PROJECT_SOURCE_DIR}/bpf/include)
  target_link_libraries(${name}_skel INTERFACE PkgConfig::LIBBPF)
  add_dependencies(${name}_skel ${name}_skel_gen)
endfunction()
