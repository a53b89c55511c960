# The MPI communicator under mpirun: collective semantics, splits and timeouts
# with 2, 3 and 4 ranks (oversubscribed on small machines).
add_executable(mpi_comm_test ${CMAKE_CURRENT_SOURCE_DIR}/mpi_comm_test.cc)
tessera_target_defaults(mpi_comm_test)
target_link_libraries(mpi_comm_test PRIVATE tessera_comm_mpi)
foreach(np 2 3 4)
  tessera_mpi_test(NAME comm_mpi_np${np} NP ${np} COMMAND $<TARGET_FILE:mpi_comm_test> TIMEOUT 90)
endforeach()
