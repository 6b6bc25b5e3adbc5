import CNNC
import Foundation

/// `cnnc check --svg FILE`: the `--dot` graph rendered by Graphviz's `dot`, when it is
/// installed; when it is not, an error that says how to install it.
enum GraphvizRender {
  /// `dot` on the PATH, or nil.
  static func dotExecutable(path: String? = ProcessInfo.processInfo.environment["PATH"]) -> URL? {
    for folder in (path ?? "/usr/bin:/bin").split(separator: ":") {
      let candidate = URL(fileURLWithPath: String(folder)).appendingPathComponent("dot")
      if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
    }
    return nil
  }

  static func render(_ network: InferredNetwork, to output: String) throws {
    guard let dot = dotExecutable() else {
      throw CommandFailure(
        "--svg needs Graphviz's dot, which is not installed (Debian: apt-get install graphviz; "
          + "macOS: brew install graphviz); --dot prints the graph for rendering elsewhere")
    }
    // dot writes to its stdout, which is cnnc's own temporary file: cnnc's rules for outputs
    // (no link followed, mode kept, renamed into place whole) hold for the picture too.
    let file: OutputFile
    do {
      file = try OutputFile(output)
    } catch {
      throw CommandFailure(error.description)
    }
    func giveUp(_ message: String) -> CommandFailure {
      file.discard()
      return CommandFailure(message)
    }
    let process = Process()
    process.executableURL = dot
    process.arguments = ["-Tsvg"]
    let input = Pipe()
    let errors = Pipe()
    process.standardInput = input
    process.standardError = errors
    process.standardOutput = FileHandle(fileDescriptor: file.descriptor, closeOnDealloc: false)
    do {
      try process.run()
    } catch {
      throw giveUp("\(dot.path) could not be started: \(error.localizedDescription)")
    }
    input.fileHandleForWriting.write(Data(DotGraph.text(network).utf8))
    try? input.fileHandleForWriting.close()
    let message = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
      throw giveUp(
        "\(dot.path) failed (exit \(process.terminationStatus)): "
          + String(decoding: message, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
      )
    }
    do {
      try file.commit()
    } catch {
      throw giveUp(error.description)
    }
  }
}
