import ArgumentParser
import CNNC
import CNNCONNX
import Foundation

struct ImportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "import",
    abstract: "Read an ONNX model as a cnnc spec (and its weights as a checkpoint).")

  @Argument(help: "The ONNX model.")
  var model: String

  @Option(name: [.customShort("o"), .long], help: "Where to write the spec (YAML).")
  var output: String

  @Option(help: "Also write the model's weights here, as a checkpoint of the spec (safetensors).")
  var weights: String?

  func run() throws {
    refuseOverlaps(
      inputs: [("the model", model)],
      outputs: [("-o", output)] + (weights.map { [("--weights", $0)] } ?? []))
    let data: Data
    do {
      data = try Data(contentsOf: URL(fileURLWithPath: model))
    } catch {
      fail("\(model): cannot be read (\(error.localizedDescription))")
    }
    let name = ((model as NSString).lastPathComponent as NSString).deletingPathExtension
    let imported: ONNXImport
    do {
      imported = try ONNXImport(data, name: name)
    } catch {
      fail("\(model): \(error.message)")
    }
    for note in imported.notes { printError("\(model): note: \(note)") }
    // The spec must pass cnnc's own check before anything is written.
    let result = SpecChecker.check(Array(imported.yaml.utf8), name: name)
    guard result.isValid, let network = result.network else {
      for diagnostic in result.diagnostics.sorted {
        printError(
          "\(model): imported spec, line \(diagnostic.location.line): \(diagnostic.message)")
      }
      fail("\(model): the imported spec does not pass cnnc check")
    }
    do {
      // Both files or neither: a bad --weights path must not leave a spec without its weights.
      var files = [(bytes: Array(imported.yaml.utf8), path: output)]
      if let weights {
        files.append((try imported.checkpoint(for: network).encoded(), weights))
      }
      try OutputFile.writeAll(files)
    } catch let error as ONNXError {
      fail("\(model): \(error.message)")
    } catch {
      fail("\(error)")
    }
    print(
      "wrote \(output): \(network.layers.count) layers"
        + (weights.map { " and \($0)" } ?? ""))
  }
}
