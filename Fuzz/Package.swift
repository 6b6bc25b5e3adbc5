// swift-tools-version:6.0
// libFuzzer targets for cnnc's readers of untrusted bytes. A package of its own because each
// target only links when built with `-sanitize=fuzzer` (libFuzzer supplies `main`); normal
// builds of cnnc never see it. Run: scripts/fuzz.sh [seconds] (from the repository's root).
import PackageDescription

let package = Package(
  name: "CNNCFuzz",
  dependencies: [
    // Named: a path dependency's identity is otherwise its folder's name, which a clone may pick.
    .package(name: "cnnc", path: "..")
  ],
  targets: [
    "FuzzSpec", "FuzzSafeTensors", "FuzzIDX", "FuzzNumPy", "FuzzNumPyReader", "FuzzONNX",
    "FuzzFolderWalk",
  ].map { name in
    .executableTarget(
      name: name,
      dependencies: [
        .product(name: "CNNC", package: "cnnc"), .product(name: "CNNCONNX", package: "cnnc"),
      ],
      // Each target is one function called by libFuzzer's own main.
      swiftSettings: [.unsafeFlags(["-parse-as-library"])]
    )
  }
)
