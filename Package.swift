// swift-tools-version:6.0
import PackageDescription

let package = Package(
  name: "cnnc",
  products: [
    .library(name: "CNNC", targets: ["CNNC"]),
    .executable(name: "cnnc", targets: ["cnnc"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2")
  ],
  targets: [
    // libyaml from the system (Debian: libyaml-dev); cnnc reads YAML through its event API.
    .systemLibrary(
      name: "CYAML",
      pkgConfig: "yaml-0.1",
      providers: [.apt(["libyaml-dev"]), .brew(["libyaml"])]
    ),
    // OpenBLAS from the system (Debian: libopenblas-dev) for cblas_sgemm; Accelerate on Apple.
    .systemLibrary(
      name: "COpenBLAS",
      pkgConfig: "openblas",
      providers: [.apt(["libopenblas-dev"]), .brew(["openblas"])]
    ),
    // zlib from the system (Debian: zlib1g-dev), for the gzipped MNIST files.
    .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
    .target(
      name: "CNNC",
      dependencies: [
        "CYAML",
        "CZlib",
        .target(name: "COpenBLAS", condition: .when(platforms: [.linux, .windows, .android])),
      ]
    ),
    .executableTarget(
      name: "cnnc",
      dependencies: ["CNNC", .product(name: "ArgumentParser", package: "swift-argument-parser")]
    ),
    // Counts heap allocations in tests (wraps glibc's malloc family); never part of the library.
    .target(name: "MallocCounter", path: "Tests/MallocCounter"),
    .testTarget(name: "CNNCTests", dependencies: ["CNNC", "MallocCounter"]),
  ]
)
