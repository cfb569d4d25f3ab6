# ctest `package` (test/CMakeLists.txt): dyad as a user gets it.
#
#   1. cmake --install BUILD_DIR --prefix WORK/prefix, and check the layout;
#   2. configure and build this directory (an outside project that does
#      find_package(dyad 0.1 CONFIG REQUIRED) and links dyad::dyad) in
#      WORK/build with dyad's C compiler, against that prefix only;
#   3. run its program and check the output with FileCheck (CHECK lines in
#      main.c);
#   4. run the installed bin/dyad-opt --version.
#
# Everything is written under WORK, in dyad's build tree.
#
#   cmake -DBUILD_DIR=... -DWORK=... -DCONFIG=... -DVERSION=... \
#         -DC_COMPILER=... -DGENERATOR=... [-DMAKE_PROGRAM=...] \
#         -DFILECHECK=... -P test/Package/run.cmake
cmake_minimum_required(VERSION 3.20)
foreach(var BUILD_DIR WORK CONFIG VERSION C_COMPILER GENERATOR FILECHECK)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run.cmake: -D${var}=... is missing")
  endif()
endforeach()
set(src ${CMAKE_CURRENT_LIST_DIR})
set(prefix ${WORK}/prefix)
set(ext ${WORK}/build)
file(REMOVE_RECURSE ${prefix} ${ext})
file(MAKE_DIRECTORY ${WORK})
# DESTDIR would move the install out of the build tree; an inherited
# CMAKE_PREFIX_PATH could find another dyad (step 2 checks which it found).
unset(ENV{DESTDIR})
unset(ENV{CMAKE_PREFIX_PATH})

# Runs a command; stops with its output when it fails. The output (stdout
# and stderr) is left in `out`.
function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE o
                  ERROR_VARIABLE o)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "package: ${what} failed (${rc}):\n${o}")
  endif()
  set(out "${o}" PARENT_SCOPE)
endfunction()

# 1. install
run("cmake --install" ${CMAKE_COMMAND} --install ${BUILD_DIR}
    --prefix ${prefix} --config ${CONFIG})
file(GLOB_RECURSE files LIST_DIRECTORIES false RELATIVE ${prefix} ${prefix}/*)
list(SORT files)
string(REPLACE ";" "\n  " listing "${files}")
message(STATUS "installed in ${prefix}:\n  ${listing}")
foreach(f bin/dyad bin/dyad-opt bin/dyad-npy lib/libdyad.a
          lib/libdyad-codegen.a include/dyad/codegen.h include/dyad/target.h
          include/dyad/ir.h include/dyad/text.h include/dyad/interp.h
          include/dyad/ops.def lib/cmake/dyad/dyadConfig.cmake
          lib/cmake/dyad/dyadConfigVersion.cmake
          lib/cmake/dyad/dyadTargets.cmake)
  if(NOT f IN_LIST files)
    message(FATAL_ERROR "package: ${f} is not installed")
  endif()
endforeach()
# Two libraries: libdyad.a (the ONNX protobuf objects inside) and the
# backend, libdyad-codegen.a (the kernel bitcode inside).
file(GLOB libs RELATIVE ${prefix}/lib ${prefix}/lib/*.a)
list(SORT libs)
if(NOT libs STREQUAL "libdyad-codegen.a;libdyad.a")
  message(FATAL_ERROR "package: libraries installed: ${libs}")
endif()

# 2. configure and build the outside project
set(gen -G ${GENERATOR})
if(DEFINED MAKE_PROGRAM AND NOT MAKE_PROGRAM STREQUAL "")
  list(APPEND gen -DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM})
endif()
run("configuring test/Package" ${CMAKE_COMMAND} -S ${src} -B ${ext} ${gen}
    -DCMAKE_C_COMPILER=${C_COMPILER} -DCMAKE_BUILD_TYPE=${CONFIG}
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
run("building test/Package" ${CMAKE_COMMAND} --build ${ext} --config ${CONFIG})
include(${ext}/found-${CONFIG}.cmake)
if(NOT found_dir STREQUAL "${prefix}/lib/cmake/dyad")
  message(FATAL_ERROR "package: found dyad in ${found_dir}, not in ${prefix}")
endif()
if(NOT found_version STREQUAL VERSION)
  message(FATAL_ERROR "package: found dyad ${found_version}, built ${VERSION}")
endif()

# 3. run the program
execute_process(COMMAND ${demo} RESULT_VARIABLE rc OUTPUT_FILE ${WORK}/demo.out
                ERROR_VARIABLE err WORKING_DIRECTORY ${WORK})
file(READ ${WORK}/demo.out demo_out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "package: ${demo} failed (${rc}):\n${demo_out}${err}")
endif()
run("FileCheck of the program's output" ${FILECHECK} ${src}/main.c
    --input-file ${WORK}/demo.out)
message(STATUS "package-demo:\n${demo_out}")

if(NOT EXISTS ${WORK}/demo.o OR NOT EXISTS ${WORK}/demo.h)
  message(FATAL_ERROR "package: the program wrote no demo.o and demo.h")
endif()

# 4. the installed dyad-opt, also as the package's imported target
if(NOT dyad_opt STREQUAL "${prefix}/bin/dyad-opt")
  message(FATAL_ERROR "package: dyad::dyad-opt is ${dyad_opt}")
endif()
run("dyad-opt --version" ${prefix}/bin/dyad-opt --version)
if(NOT out MATCHES "^dyad-opt ${VERSION} \\(LLVM [0-9]")
  message(FATAL_ERROR "package: dyad-opt --version printed: ${out}")
endif()
message(STATUS "${prefix}/bin/dyad-opt --version: ${out}")
message(STATUS "package: ok")
