import Foundation

@testable import CNNC

/// The package's root folder, found from this file's place in Tests/CNNCTests/.
let packageRoot = URL(fileURLWithPath: #filePath)
  .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Where tests write: one folder per test process, removed when the process exits normally (a
/// run that crashed leaves it, to look at), so that runs do not pile up in /tmp.
enum TestFiles {
  static let root: URL = {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent(
      "cnnc-tests-\(getpid())")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    atexit { try? FileManager.default.removeItem(at: TestFiles.root) }
    return url
  }()

  /// A fresh path under `root`, with `suffix` after its unique name.
  static func newURL(suffix: String = "") -> URL {
    root.appendingPathComponent(UUID().uuidString + suffix)
  }
}

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
