# Every dependency comes from Debian's packages through find_package; nothing is
# vendored or downloaded. deploy/install-deps.sh installs them.
find_package(Threads REQUIRED)
find_package(absl REQUIRED)
find_package(GTest REQUIRED)
find_package(CLI11 REQUIRED)
find_package(glog REQUIRED)
if(NOT TESSERA_ONLY_CORE)
  find_package(benchmark REQUIRED)
  # Used by the sharded and serving modules (comm/, coordinator/); found now so a
  # machine missing them fails at configure time, not in a later issue.
  find_package(MPI REQUIRED COMPONENTS CXX)
  find_package(Protobuf REQUIRED)
  find_package(cppzmq REQUIRED)
  find_package(nlohmann_json REQUIRED)

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
