# Every dependency comes from Debian's packages through find_package; nothing is
# vendored or downloaded. deploy/install-deps.sh installs them.
find_package(Threads REQUIRED)
find_package(absl REQUIRED)
find_package(GTest REQUIRED)
find_package(CLI11 REQUIRED)
find_package(glog REQUIRED)
find_package(Protobuf REQUIRED)
find_package(nlohmann_json REQUIRED)
# ZeroMQ: the coordinator's sockets, the group leader's link to it and the
# client library (none of them needs MPI, so the sanitizer build has them).
find_package(cppzmq REQUIRED)
if(NOT TESSERA_ONLY_CORE)
  find_package(benchmark REQUIRED)
  find_package(MPI REQUIRED COMPONENTS CXX)
  find_program(TESSERA_MPIEXEC NAMES mpiexec mpirun REQUIRED)

  include(CheckLanguage)
  if(NOT DEFINED CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    message(STATUS "tessera: CUDA compiler found at ${CMAKE_CUDA_COMPILER}; "
                   "the GPU backend arrives with the CUDA issue")
    set(TESSERA_HAVE_CUDA ON)
  else()
    message(STATUS "tessera: no CUDA compiler; CPU backend only")
    set(TESSERA_HAVE_CUDA OFF)
  endif()
endif()
