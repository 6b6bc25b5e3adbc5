// swift-tools-version:6.0
import PackageDescription

let package = Package(
  name: "cnnc",
  products: [
    .library(name: "CNNC", targets: ["CNNC"]),
    // Multi-process training on MPI; needs Open MPI (Debian: libopenmpi-dev), which CNNC does not.
    .library(name: "CNNCMPI", targets: ["CNNCMPI"]),
    // ONNX export; needs swift-protobuf, which CNNC does not.
    .library(name: "CNNCONNX", targets: ["CNNCONNX"]),
    .executable(name: "cnnc", targets: ["cnnc"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    // `swift package generate-documentation --target CNNC` builds the DocC catalog.
    .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    // ONNX's protobuf messages (Sources/CNNCONNX/Generated, from scripts/generate-onnx-swift.sh).
    .package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0"),
  ],
  targets: [
    // libyaml from the system (Debian: libyaml-dev); cnnc reads YAML through its event API.
    .systemLibrary(
      name: "CYAML",
      pkgConfig: "yaml-0.1",
      providers: [.apt(["libyaml-dev"]), .brew(["libyaml"])]
    ),
    // cnnc's own GEMM kernels in C, one microkernel per instruction set (per-function target
    // attributes, chosen at run time: no unsafeFlags, so the package stays usable as a dependency).
    .target(name: "CNNCKernels"),
    // zlib from the system (Debian: zlib1g-dev), for the gzipped MNIST files.
    .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
    // libpng and libjpeg-turbo from the system (Debian: libpng-dev, libturbojpeg0-dev), for
    // image folders; both are used through APIs that report errors without setjmp.
    .systemLibrary(
      name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"]), .brew(["libpng"])]),
    .systemLibrary(
      name: "CTurboJPEG", pkgConfig: "libturbojpeg",
      providers: [.apt(["libturbojpeg0-dev"]), .brew(["jpeg-turbo"])]),
    // PNG decoding in C (libpng's errors longjmp), with all of libpng's memory from a buffer
    // the caller keeps: decoding a sample allocates nothing.
    .target(name: "CNNCImages", dependencies: ["CPNG"]),
    .target(
      name: "CNNC",
      dependencies: [
        "CYAML",
        "CZlib",
        "CNNCImages",
        "CTurboJPEG",
        "CNNCKernels",
      ]
    ),
    // Open MPI from the system (Debian: libopenmpi-dev), for `mpirun ... cnnc run --train`.
    .systemLibrary(
      name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"]), .brew(["open-mpi"])]
    ),
    .target(name: "CNNCMPI", dependencies: ["CNNC", "CMPI"]),
    .target(
      name: "CNNCONNX",
      dependencies: ["CNNC", .product(name: "SwiftProtobuf", package: "swift-protobuf")]
    ),
    .executableTarget(
      name: "cnnc",
      dependencies: [
        "CNNC", "CNNCMPI", "CNNCONNX",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]
    ),
    // Counts heap allocations in tests (wraps glibc's malloc family); never part of the library.
    .target(name: "MallocCounter", path: "Tests/MallocCounter"),
    .testTarget(
      name: "CNNCTests",
      // `cnnc` too: its commands run in-process in CommandInProcessTests.
      dependencies: ["CNNC", "CNNCONNX", "MallocCounter", "CPNG", "CTurboJPEG", "cnnc"]),
  ]
)
