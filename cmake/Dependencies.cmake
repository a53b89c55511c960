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

  # The GPU backend (kernels/cuda, comm/nccl) is built whenever nvcc is found;
  # -DTESSERA_CUDA=OFF leaves it out. Its tests skip where no GPU is visible.
  option(TESSERA_CUDA "Build the CUDA backend and the NCCL communicator when nvcc is found" ON)
  set(TESSERA_HAVE_CUDA OFF)
  if(TESSERA_CUDA)
    include(CheckLanguage)
    if(NOT DEFINED CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
      set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
    endif()
    check_language(CUDA)
  endif()
  if(TESSERA_CUDA AND CMAKE_CUDA_COMPILER)
    # H100/H200 (sm_90) unless the caller chose other architectures.
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 90)
    endif()
    enable_language(CUDA)
    # CMake 3.25 knows no C++20 flag for nvcc (it reports "requires the
    # language dialect CUDA20"); nvcc 12+ takes -std=c++20.
    if(NOT DEFINED CMAKE_CUDA20_STANDARD_COMPILE_OPTION OR CMAKE_CUDA20_STANDARD_COMPILE_OPTION STREQUAL "")
      set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
      set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
    endif()
    set(CMAKE_CUDA_STANDARD 20)
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    find_package(CUDAToolkit REQUIRED)
    find_library(TESSERA_NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR} REQUIRED)
    find_path(TESSERA_NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS} REQUIRED)
    message(STATUS "tessera: CUDA ${CUDAToolkit_VERSION} at ${CMAKE_CUDA_COMPILER} (architectures "
                   "${CMAKE_CUDA_ARCHITECTURES}), NCCL ${TESSERA_NCCL_LIBRARY}: building the GPU backend")
    set(TESSERA_HAVE_CUDA ON)
  else()
    message(STATUS "tessera: no CUDA compiler (or TESSERA_CUDA=OFF); CPU backend only")
  endif()
endif()
