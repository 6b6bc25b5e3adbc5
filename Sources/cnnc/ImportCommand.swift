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
    try refuseOverlaps(
      inputs: [("the model", model)],
      outputs: [("-o", output)] + (weights.map { [("--weights", $0)] } ?? []))
    let data: Data
    do {
      data = try Data(contentsOf: URL(fileURLWithPath: model))
    } catch {
      throw CommandFailure("\(model): cannot be read (\(error.localizedDescription))")
    }
    let name = ((model as NSString).lastPathComponent as NSString).deletingPathExtension
    do {
      let imported = try ONNXImport(data, name: name)
      for note in imported.notes { printError("\(model): note: \(note)") }
      // The spec must pass cnnc's own check before anything is written.
      let network = try imported.checkedNetwork()
      // Both files or neither: a bad --weights path must not leave a spec without its weights.
      var files = [(bytes: Array(imported.yaml.utf8), path: output)]
      if let weights {
        files.append((try imported.checkpoint(for: network).encoded(), weights))
      }
      try OutputFile.writeAll(files)
      print(
        "wrote \(output): \(network.layers.count) layers"
          + (weights.map { " and \($0)" } ?? ""))
    } catch let error as ONNXError {
      throw CommandFailure("\(model): \(error.message)")
    } catch {
      throw CommandFailure(error)
    }
  }
}
