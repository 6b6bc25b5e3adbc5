import ArgumentParser
import CNNC
import Foundation

@main
struct CNNCCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "cnnc",
    abstract: "A compiler for convolutional neural networks described in YAML.",
    version: cnncVersion,
    subcommands: [
      CheckCommand.self, RunCommand.self, BenchCommand.self, ExportCommand.self, ImportCommand.self,
      CompileCommand.self, QuantizeCommand.self,
    ])

  /// Parses and runs a command; a `CommandFailure` it throws is printed as `error: …` with exit
  /// status 1, other errors as ArgumentParser prints them. Arguments are checked as bytes
  /// first: Swift decodes one that is not UTF-8 with replacement characters, so a spec path
  /// "did not exist" and `--out o\xFF.safetensors` wrote `o\u{FFFD}.safetensors`.
  static func main() {
    for index in 1..<max(1, Int(CommandLine.argc)) {
      guard let pointer = CommandLine.unsafeArgv[index] else { continue }
      let bytes = Array(UnsafeBufferPointer(start: pointer, count: strlen(pointer)))
        .map { UInt8(bitPattern: $0) }
      if String(validating: bytes, as: UTF8.self) == nil {
        printError(
          "error: argument \(index) is not UTF-8 (\(FileName.shown(bytes))); cnnc takes file "
            + "names and values in UTF-8")
        Foundation.exit(1)
      }
    }
    do {
      var command = try parseAsRoot()
      try command.run()
    } catch let failure as CommandFailure {
      printError(ErrorLabel.prefix + failure.description)
      Foundation.exit(1)
    } catch {
      exit(withError: error)
    }
  }
}
