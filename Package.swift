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
    .target(name: "CNNC", dependencies: ["CYAML"]),
    .executableTarget(
      name: "cnnc",
      dependencies: ["CNNC", .product(name: "ArgumentParser", package: "swift-argument-parser")]
    ),
    .testTarget(name: "CNNCTests", dependencies: ["CNNC"], resources: []),
  ]
)
