import ArgumentParser
import CNNC
import Foundation

struct CheckCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "check",
    abstract: "Check a network spec: infer every shape and report what does not fit.")

  @Argument(help: "The spec file (YAML).")
  var spec: String

  @Flag(help: "Print one JSON object instead of the table.")
  var json = false

  @Flag(help: "Print the graph in Graphviz DOT, shapes on the edges.")
  var dot = false

  func validate() throws {
    if json && dot { throw ValidationError("--json and --dot cannot be used together") }
  }

  func run() throws {
    let file = try SpecFile(path: spec)
    let result = SpecChecker.check(file.bytes, name: file.defaultName)
    let diagnostics = result.diagnostics.sorted
    if json {
      print(CheckReport.json(result, diagnostics: diagnostics).text)
    } else {
      file.printDiagnostics(diagnostics)
      if result.isValid, let network = result.network {
        print(dot ? DotGraph.text(network) : CheckReport.table(network))
      }
    }
    if !result.isValid { throw ExitCode(1) }
  }
}

/// A spec read from disk, with what diagnostics need to show its lines.
struct SpecFile {
  let path: String
  let bytes: [UInt8]

  init(path: String) throws {
    self.path = path
    guard let data = FileManager.default.contents(atPath: path) else {
      let reason =
        FileManager.default.fileExists(atPath: path) ? "cannot be read" : "does not exist"
      printError("error: \(path): the file \(reason)")
      throw ExitCode(1)
    }
    bytes = Array(data)
  }

  /// The file name without folder or extension: the network's name when the spec gives none.
  var defaultName: String {
    let base = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
    return base.isEmpty ? "network" : base
  }

  func printDiagnostics(_ diagnostics: [Diagnostic]) {
    let source = SourceText(bytes)
    for diagnostic in diagnostics {
      printError(diagnostic.rendered(fileName: path, source: source))
    }
    let errors = diagnostics.filter { $0.severity == .error }.count
    if errors > 0 {
      printError("\(errors) error\(errors == 1 ? "" : "s") in \(path)")
    }
  }
}

func printError(_ text: String) {
  FileHandle.standardError.write(Data((text + "\n").utf8))
}
