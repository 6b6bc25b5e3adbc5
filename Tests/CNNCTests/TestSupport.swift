import Foundation

@testable import CNNC

/// The package's root folder, found from this file's place in Tests/CNNCTests/.
let packageRoot = URL(fileURLWithPath: #filePath)
  .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

func modelPath(_ name: String) -> String {
  packageRoot.appendingPathComponent("Models/\(name)").path
}

/// Checks `yaml` as the CLI would, naming it "test".
func check(_ yaml: String) -> CheckResult {
  SpecChecker.check(Array(yaml.utf8), name: "test")
}

func check(bytes: [UInt8]) -> CheckResult {
  SpecChecker.check(bytes, name: "test")
}
