import ArgumentParser
import CNNC
import CNNCONNX
import Foundation

struct ExportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "export",
    abstract: "Write a network and its checkpoint's weights as an ONNX model (opset 13).")

  @Argument(help: "The spec file (YAML).")
  var spec: String

  @Option(help: "The checkpoint whose weights the model carries (safetensors).")
  var weights: String

  @Option(name: [.customShort("o"), .long], help: "Where to write the model (.onnx).")
  var output: String

  func run() throws {
    try refuseOverlaps(
      inputs: [("the spec", spec), ("--weights", weights)], outputs: [("-o", output)])
    try refuseInt8(weights, "cnnc export writes float ONNX so far")
    let file = try SpecFile(path: spec)
    let result = SpecChecker.check(file.bytes, name: file.defaultName)
    file.printDiagnostics(result.diagnostics.sorted)
    guard result.isValid, let network = result.network else { throw ExitCode(1) }
    let layout: (slots: [ParameterSlot], floats: Int)
    let values: [Float]
    do {
      layout = try network.parameterLayout()
      values = try Checkpoints.values(at: weights, layout.slots, floats: layout.floats)
    } catch let error as PlanError {
      throw CommandFailure("\(spec): \(error.message)")
    } catch {
      throw CommandFailure("\(error)")
    }
    do {
      let model = try ONNXExport.model(network, parameters: layout.slots, weights: values)
      try OutputFile.write(Array(model), to: output)
      print("wrote \(output): \(network.layers.count) layers, \(model.count) bytes")
    } catch let error as ONNXError {
      throw CommandFailure("\(spec): \(error.message)")
    } catch {
      throw CommandFailure(error)
    }
  }
}
