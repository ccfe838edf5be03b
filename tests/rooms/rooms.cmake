# rooms.cmake: the house rules of docs/architecture.md, checked on the sources
# (run by ctest as test_rooms: cmake -DSRC=<source dir> -DCC=<compiler> -P rooms.cmake).
#  1. Kafka-free rooms (common/, schemas/, ledger/, the read models, serve/):
#     no source or header of theirs includes librdkafka, even indirectly
#     (the compiler's own dependency list, -M, is the judge).
#  2. No library includes a header of cmd/: libraries are compiled here
#     without cmd/ on the include path.
#  3. Command entry points (rf_cmd_*) are defined in cmd/ only; getopt_long
#     only in the option toolkit; rd_kafka_new only in the Kafka edge; no atoi.
#  4. No .c file over RF_FILE_LINES_MAX lines.
cmake_minimum_required(VERSION 3.25)
set(RF_FILE_LINES_MAX 900)
set(errors "")

set(kafka_free_dirs common schemas ledger ledger/rules consumers/project consumers/serve)
set(lib_dirs ${kafka_free_dirs} common/kafka producers consumers/fold consumers/webhooks)
set(inc "")
foreach(d ${kafka_free_dirs})
  list(APPEND inc "-I${SRC}/${d}")
endforeach()
set(kafka_inc ${inc} "-I${SRC}/common/kafka" "-I${SRC}/producers" "-I${SRC}/consumers/fold"
    "-I${SRC}/consumers/webhooks")
separate_arguments(extra UNIX_COMMAND "${EXTRA_CFLAGS}")

function(deps file flags out_var ok_var)
  execute_process(COMMAND ${CC} -M -MG -x c ${flags} ${extra} -D_POSIX_C_SOURCE=200809L
                          -D_DEFAULT_SOURCE ${file}
                  OUTPUT_VARIABLE o ERROR_VARIABLE e RESULT_VARIABLE rc)
  set(${out_var} "${o}${e}" PARENT_SCOPE)
  set(${ok_var} ${rc} PARENT_SCOPE)
endfunction()

# The read models' worker is the Kafka side of consumers/project/.
set(kafka_side consumers/project/rf_project_worker.c consumers/project/rf_project_worker.h
               consumers/project/rf_project_metrics.c)
foreach(d ${lib_dirs})
  file(GLOB files ${SRC}/${d}/*.c ${SRC}/${d}/*.h)
  foreach(f ${files})
    file(RELATIVE_PATH rel ${SRC} ${f})
    list(FIND kafka_free_dirs ${d} free)
    list(FIND kafka_side ${rel} side)
    if(free GREATER -1 AND side EQUAL -1)
      deps(${f} "${kafka_inc}" out rc)
      if(out MATCHES "rdkafka")
        string(APPEND errors "${rel}: a Kafka-free room includes librdkafka (directly or through a header)\n")
      endif()
    else()
      deps(${f} "${kafka_inc}" out rc)
    endif()
    # -MG lists a header it cannot find as a plain name: a cmd/ header.
    file(GLOB cmd_headers RELATIVE ${SRC}/cmd ${SRC}/cmd/*.h ${SRC}/cmd/*.def)
    foreach(h ${cmd_headers})
      string(REPLACE "." "\\." hre "${h}")
      if(out MATCHES "(^|[ \t\n:])${hre}([ \t\n]|$)")
        string(APPEND errors "${rel}: a library includes cmd/${h}\n")
      endif()
    endforeach()
    if(f MATCHES "\\.c$")
      file(READ ${f} text)
      if(text MATCHES "\nint rf_cmd_[a-z_]+\\(int argc")
        string(APPEND errors "${rel}: defines a command entry point outside cmd/\n")
      endif()
    endif()
  endforeach()
endforeach()

file(GLOB_RECURSE all_c ${SRC}/common/*.c ${SRC}/schemas/*.c ${SRC}/producers/*.c
     ${SRC}/ledger/*.c ${SRC}/consumers/*.c ${SRC}/cmd/*.c)
foreach(f ${all_c})
  file(RELATIVE_PATH rel ${SRC} ${f})
  # newlines counted: file(STRINGS) + list(LENGTH) miscounted (a ';' or a
  # '[' in a line merges or splits list elements: 1137 lines counted 689)
  file(READ ${f} text)
  string(REGEX MATCHALL "\n" newlines "${text}")
  list(LENGTH newlines n)
  if(n GREATER RF_FILE_LINES_MAX)
    string(APPEND errors "${rel}: ${n} lines (the house limit is ${RF_FILE_LINES_MAX})\n")
  endif()
  if(text MATCHES "getopt_long" AND NOT rel STREQUAL "common/rf_opt.c")
    string(APPEND errors "${rel}: getopt_long outside the option toolkit (common/rf_opt.c)\n")
  endif()
  if(text MATCHES "rd_kafka_new\\(" AND NOT rel STREQUAL "common/kafka/rf_kafka.c")
    string(APPEND errors "${rel}: rd_kafka_new outside the Kafka edge (common/kafka/rf_kafka.c)\n")
  endif()
  if(text MATCHES "[^a-z_]atoi\\(")
    string(APPEND errors "${rel}: atoi (use rf_parse_i64: it checks the range)\n")
  endif()
endforeach()

if(errors)
  message(FATAL_ERROR "rooms check failed:\n${errors}")
endif()
message(STATUS "rooms check: ok")
