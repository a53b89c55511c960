# The sharded engine under mpirun against the single-rank engine, for every
# group shape the sharding issue names (uneven layers: 5 layers over 2 or 3
# stages, and uneven device profiles), on F32 (logits and tokens) and Q8_0
# (tokens), plus tp 4 over 2 KV heads and tp 6 over 4 heads.
add_executable(sharded_mpi_test sharded_mpi_test.cc)
tessera_target_defaults(sharded_mpi_test)
target_link_libraries(sharded_mpi_test PRIVATE tessera_worker tessera_comm_mpi GTest::gtest)

set(TESSERA_SHARD_SHAPES
    # name      tp pp layers heads kv extra
    "tp2        2  1  5      4     2"
    "pp2        1  2  5      4     2  --uneven"
    "tp2pp2     2  2  5      4     2"
    "tp3        3  1  5      6     3"
    "tp3pp2     3  2  5      6     3  --uneven"
    "pp3        1  3  5      4     2"
    "tp4kv2     4  1  3      4     2"
    "tp6heads4  6  1  2      4     2"
    # Several sequences with pp steps in flight and answers (gathered logits
    # of a 2048-word vocabulary) past MPI's eager limit: a Send that waited
    # for its receiver would deadlock the leader and the last stage.
    "pp2seq3    1  2  4      4     2  --sequences 3 --vocab 2048"
    "tp2pp2seq3 2  2  4      4     2  --sequences 3 --vocab 2048")
foreach(shape ${TESSERA_SHARD_SHAPES})
  string(REGEX REPLACE " +" ";" fields "${shape}")
  list(GET fields 0 name)
  list(GET fields 1 tp)
  list(GET fields 2 pp)
  list(GET fields 3 layers)
  list(GET fields 4 heads)
  list(GET fields 5 kv)
  set(extra "")
  list(LENGTH fields n_fields)
  if(n_fields GREATER 6)
    list(SUBLIST fields 6 -1 extra)
  endif()
  math(EXPR np "${tp} * ${pp}")
  foreach(type f32 q8_0)
    tessera_mpi_test(NAME sharded_${name}_${type} NP ${np} TIMEOUT 180
                     COMMAND $<TARGET_FILE:sharded_mpi_test> --tp ${tp} --pp ${pp} --type ${type}
                             --layers ${layers} --heads ${heads} --kv-heads ${kv} ${extra})
  endforeach()
endforeach()

# The standalone command line: the text of every shape equals `tessera
# generate`'s, and a rank that cannot start stops the whole job fast.
add_test(NAME integration.worker_cli
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/worker_cli_test.sh $<TARGET_FILE:tessera>
                 $<TARGET_FILE:tessera-worker> ${TESSERA_MPIEXEC} ${CMAKE_CURRENT_BINARY_DIR}/worker_cli_work)
set_tests_properties(integration.worker_cli PROPERTIES LABELS integration TIMEOUT 300
                     ENVIRONMENT "${TESSERA_MPI_TEST_ENV}")
