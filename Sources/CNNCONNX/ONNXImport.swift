import CNNC
import Foundation
import SwiftProtobuf

/// An ONNX model read as a cnnc spec: one layer per node, for the operators cnnc has, named after
/// the nodes, with the keys whose values differ from cnnc's defaults; and its weights by the
/// checkpoint names the spec's layers give them. Anything cnnc cannot express is an error naming
/// the node, its operator and the attribute.
public struct ONNXImport {
  /// The spec, as YAML that `cnnc check` accepts.
  public var yaml: String
  /// Each weight tensor's values by checkpoint name (`conv1.weight`), in cnnc's layouts.
  public var tensors: [String: [Float]]
  /// What the import left out of the model, for the user to read (nodes the graph's output
  /// does not depend on).
  public var notes: [String]

  /// Reads `data` (an ONNX model); `name` becomes the spec's name.
  public init(_ data: Data, name: String) throws(ONNXError) {
    let model: Onnx_ModelProto
    do {
      model = try Onnx_ModelProto(serializedBytes: data)
    } catch {
      throw ONNXError(message: "not an ONNX model: \(error)")
    }
    // The default domain is "" or "ai.onnx"; a model without one is version 1, older than any
    // cnnc reads.
    let opset = model.opsetImport.first { $0.domain.isEmpty || $0.domain == "ai.onnx" }?.version
    guard let opset, GraphReader.supportedOpsets.contains(Int(clamping: opset)) else {
      let range = GraphReader.supportedOpsets
      throw ONNXError(
        message: "the model's ai.onnx opset is \(opset.map(String.init) ?? "not declared"); cnnc "
          + "reads opsets \(range.lowerBound) to \(range.upperBound)")
    }
    var reader = GraphReader(graph: model.graph, opset: Int(opset))
    try reader.read()
    var lines = ["name: \(Self.scalar(name))"]
    lines.append("input: [\(reader.inputShape.map(String.init).joined(separator: ", "))]")
    lines.append("layers:")
    lines += reader.layers.map { "  - {\($0)}" }
    yaml = lines.joined(separator: "\n") + "\n"
    tensors = reader.tensors
    notes = reader.notes
  }

  /// A YAML scalar: plain when it is a simple word, double-quoted otherwise.
  static func scalar(_ text: String) -> String {
    let plain = text.range(of: #"^[A-Za-z_][A-Za-z0-9_.\-]*$"#, options: .regularExpression)
    if plain != nil
      && !["true", "false", "null", "yes", "no", "on", "off"].contains(text.lowercased())
    {
      return text
    }
    var quoted = "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": quoted += "\\\""
      case "\\": quoted += "\\\\"
      default:
        if scalar.value < 0x20 {
          quoted += String(format: "\\x%02X", scalar.value)
        } else {
          quoted.unicodeScalars.append(scalar)
        }
      }
    }
    return quoted + "\""
  }
}

extension ONNXImport {
  /// The imported spec checked as `cnnc check` checks a file: its network, or an error that
  /// lists what the check found by line of the spec. An import is written only once it checks.
  public func checkedNetwork() throws(ONNXError) -> InferredNetwork {
    let result = SpecChecker.check(Array(yaml.utf8), name: "imported")
    guard result.isValid, let network = result.network else {
      let lines = result.diagnostics.errors.map { "  line \($0.location.line): \($0.message)" }
      throw ONNXError(
        message: (["the imported spec does not pass cnnc check:"] + lines).joined(separator: "\n"))
    }
    return network
  }

  /// The imported weights as a checkpoint of `network` (this import's spec, checked), ready
  /// for `cnnc run --weights`; batchnorm's `num_batches_tracked` starts at 0.
  public func checkpoint(for network: InferredNetwork) throws(ONNXError) -> SafeTensors {
    let layout: (slots: [ParameterSlot], floats: Int)
    do {
      layout = try network.parameterLayout()
    } catch {
      throw ONNXError(message: "the imported network cannot be laid out: \(error.message)")
    }
    var values = [Float](repeating: 0, count: layout.floats)
    for slot in layout.slots where slot.elementType == .float32 {
      guard let tensor = tensors[slot.name] else {
        throw ONNXError(message: "the model has no values for \(slot.name)")
      }
      guard tensor.count == slot.count else {
        throw ONNXError(
          message: "\(slot.name): the model has \(tensor.count) values, the layer "
            + "\(slot.dimensions) = \(slot.count)")
      }
      values.replaceSubrange(slot.range, with: tensor)
    }
    return Checkpoints.tensors(
      values, layout.slots, metadata: ["format": "pt", "network": network.name])
  }
}
