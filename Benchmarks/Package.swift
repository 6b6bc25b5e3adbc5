// swift-tools-version:6.1
// Benchmarks of cnnc's kernels and whole steps, with ordo-one/benchmark. A package of its own so
// that normal builds of cnnc do not pay for it. Run: swift package benchmark (in this folder).
import PackageDescription

let package = Package(
  name: "CNNCBenchmarks",
  platforms: [.macOS(.v13)],
  dependencies: [
    .package(name: "cnnc", path: ".."),
    .package(
      url: "https://github.com/ordo-one/benchmark", exact: "1.38.1", traits: ["MallocInterposer"]),
  ],
  targets: [
    .executableTarget(
      name: "CNNCBenchmarks",
      dependencies: [
        // Named "cnnc" above: a path dependency's identity is otherwise its folder's name,
        // which a clone may choose freely.
        .product(name: "CNNC", package: "cnnc"),
        .product(name: "Benchmark", package: "benchmark"),
      ],
      path: "Benchmarks/CNNCBenchmarks",
      swiftSettings: [.swiftLanguageMode(.v5)],
      plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
    )
  ]
)
