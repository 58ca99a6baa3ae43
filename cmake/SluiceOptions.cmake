# Compiler flags shared by every target: warnings, sanitizers, asserts that
# stay on in release builds (STYLE.md: invariants are asserts kept in release).
add_library(sluice_options INTERFACE)
target_compile_options(sluice_options INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-unused-parameter>
  # GCC 12 reports std::optional<std::string> false positives at -O2.
  $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<CXX_COMPILER_ID:GNU>>:-Wno-maybe-uninitialized>)
target_compile_definitions(sluice_options INTERFACE SLUICE_VERSION="${PROJECT_VERSION}")
# Release keeps asserts: drop NDEBUG from the default release flags.
foreach(cfg RELEASE RELWITHDEBINFO MINSIZEREL)
  string(REPLACE "-DNDEBUG" "" CMAKE_CXX_FLAGS_${cfg} "${CMAKE_CXX_FLAGS_${cfg}}")
  set(CMAKE_CXX_FLAGS_${cfg} "${CMAKE_CXX_FLAGS_${cfg}}" CACHE STRING "" FORCE)
endforeach()

if(SLUICE_SANITIZE)
  if(NOT SLUICE_SANITIZE MATCHES "^(address|thread|undefined)$")
    message(FATAL_ERROR "SLUICE_SANITIZE must be address, thread or undefined, not '${SLUICE_SANITIZE}'")
  endif()
  target_compile_options(sluice_options INTERFACE
    $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=${SLUICE_SANITIZE} -fno-omit-frame-pointer>)
  target_link_options(sluice_options INTERFACE -fsanitize=${SLUICE_SANITIZE})
endif()

# Adds every immediate sub-folder of the current source dir that has a CMakeLists.txt.
function(sluice_add_subdirectories)
  file(GLOB children LIST_DIRECTORIES true RELATIVE ${CMAKE_CURRENT_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR}/*)
  list(SORT children)
  foreach(child ${children})
    if(IS_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/${child} AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${child}/CMakeLists.txt)
      add_subdirectory(${child})
    endif()
  endforeach()
endfunction()
