import ArgumentParser
import CNNC
import CNNCONNX
import Foundation

struct ExportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "export",
    abstract:
      "Write a network and its checkpoint's weights as an ONNX model (opset 13); an int8 "
      + "checkpoint as a QDQ model.")

  @Argument(help: "The spec file (YAML).")
  var spec: String

  @Option(help: "The checkpoint whose weights the model carries (safetensors).")
  var weights: String

  @Option(name: [.customShort("o"), .long], help: "Where to write the model (.onnx).")
  var output: String

  func run() throws {
    try refuseOverlaps(
      inputs: [("the spec", spec), ("--weights", weights)], outputs: [("-o", output)])
    let file = try SpecFile(path: spec)
    let result = SpecChecker.check(file.bytes, name: file.defaultName)
    file.printDiagnostics(result.diagnostics.sorted)
    guard result.isValid, let network = result.network else { throw ExitCode(1) }
    if let quantized = try int8Network(network) {
      return try write(
        { () throws(ONNXError) in try ONNXExport.qdqModel(quantized) },
        "\(quantized.plan.steps.count - quantized.floatSteps.count) int8 steps of "
          + "\(quantized.plan.steps.count) (QDQ)")
    }
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
    try write(
      { () throws(ONNXError) in
        try ONNXExport.model(network, parameters: layout.slots, weights: values)
      }, "\(network.layers.count) layers")
  }

  /// The network of an int8 checkpoint (from cnnc quantize); nil for a float one.
  func int8Network(_ network: InferredNetwork) throws -> QuantizedNetwork? {
    do {
      let checkpoint = try SafeTensors.read(weights)
      guard QuantizedNetwork.isCheckpoint(checkpoint) else { return nil }
      return try QuantizedNetwork(network, checkpoint: checkpoint, path: weights)
    } catch let error as QuantizationError {
      throw CommandFailure(error.message)
    } catch {
      throw CommandFailure(error)
    }
  }

  func write(_ model: () throws(ONNXError) -> Data, _ what: String) throws {
    do {
      let model = try model()
      try OutputFile.write(Array(model), to: output)
      print("wrote \(output): \(what), \(model.count) bytes")
    } catch let error as ONNXError {
      throw CommandFailure("\(spec): \(error.message)")
    } catch {
      throw CommandFailure(error)
    }
  }
}
