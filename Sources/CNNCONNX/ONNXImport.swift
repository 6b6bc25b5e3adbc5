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

  /// Reads `data` (an ONNX model); `name` becomes the spec's name.
  public init(_ data: Data, name: String) throws(ONNXError) {
    let model: Onnx_ModelProto
    do {
      model = try Onnx_ModelProto(serializedBytes: data)
    } catch {
      throw ONNXError(message: "not an ONNX model: \(error)")
    }
    var reader = GraphReader(graph: model.graph)
    try reader.read()
    var lines = ["name: \(Self.scalar(name))"]
    lines.append("input: [\(reader.inputShape.map(String.init).joined(separator: ", "))]")
    lines.append("layers:")
    lines += reader.layers.map { "  - {\($0)}" }
    yaml = lines.joined(separator: "\n") + "\n"
    tensors = reader.tensors
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

/// The walk over a graph's nodes, in their (topological) order.
private struct GraphReader {
  let graph: Onnx_GraphProto
  var initializers: [String: (dims: [Int], values: [Float])] = [:]
  var inputShape: [Int] = []
  /// The cnnc value each ONNX tensor name stands for: "input", or a layer's name.
  var values: [String: String] = [:]
  /// The layer that made the latest value, which a layer reads unless it names others.
  var previous = "input"
  var layers: [String] = []
  var tensors: [String: [Float]] = [:]
  var usedNames: Set<String> = ["input"]

  init(graph: Onnx_GraphProto) { self.graph = graph }

  mutating func read() throws(ONNXError) {
    for tensor in graph.initializer {
      initializers[tensor.name] = (tensor.dims.map { Int($0) }, try floats(of: tensor))
    }
    let inputs = graph.input.filter { initializers[$0.name] == nil }
    guard inputs.count == 1, let input = inputs.first else {
      throw ONNXError(message: "the graph has \(inputs.count) inputs; cnnc networks have one")
    }
    let dims = input.type.tensorType.shape.dim.dropFirst().map { Int($0.dimValue) }
    guard [1, 3].contains(dims.count), dims.allSatisfy({ $0 > 0 }) else {
      throw ONNXError(
        message: "input '\(input.name)': its shape after the batch must be fixed (C, H, W) or (F)")
    }
    inputShape = dims.count == 3 ? dims : [dims[0], 1, 1]
    values[input.name] = "input"
    // A Flatten read only by a Gemm is left out: cnnc's dense layer flattens its input itself.
    var readers: [String: Int] = [:]
    for node in graph.node { for name in node.input { readers[name, default: 0] += 1 } }
    let foldable = Set(
      graph.node.filter { node in
        node.opType == "Flatten" && readers[node.output.first ?? "", default: 0] == 1
          && graph.node.contains { $0.opType == "Gemm" && $0.input.first == node.output.first }
      }.compactMap(\.output.first))
    for node in graph.node {
      if node.opType == "Identity" || foldable.contains(node.output.first ?? "") {
        try alias(node)
        continue
      }
      try layer(for: node)
    }
  }

  func floats(of tensor: Onnx_TensorProto) throws(ONNXError) -> [Float] {
    guard tensor.dataType == Int32(Onnx_TensorProto.DataType.float.rawValue) else {
      throw ONNXError(
        message: "initializer '\(tensor.name)': element type \(tensor.dataType) is not float32")
    }
    let count = tensor.dims.reduce(1) { $0 * Int($1) }
    let values: [Float]
    if !tensor.rawData.isEmpty {
      values = tensor.rawData.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    } else {
      values = tensor.floatData
    }
    guard values.count == count else {
      throw ONNXError(
        message: "initializer '\(tensor.name)': \(values.count) values for shape \(tensor.dims)")
    }
    return values
  }

  /// Identity, and a Flatten a dense layer absorbs: the output is the input under a new name.
  mutating func alias(_ node: Onnx_NodeProto) throws(ONNXError) {
    guard let input = node.input.first, let value = values[input], let output = node.output.first
    else { throw problem(node, "its input is not an earlier node's output") }
    values[output] = value
  }

  func problem(_ node: Onnx_NodeProto, _ text: String) -> ONNXError {
    ONNXError(message: "node '\(node.name)' (\(node.opType)): \(text)")
  }

  func attribute(_ node: Onnx_NodeProto, _ name: String) -> Onnx_AttributeProto? {
    node.attribute.first { $0.name == name }
  }

  func ints(_ node: Onnx_NodeProto, _ name: String, default fallback: [Int]) -> [Int] {
    attribute(node, name).map { $0.ints.map { Int($0) } } ?? fallback
  }

  func int(_ node: Onnx_NodeProto, _ name: String, default fallback: Int) -> Int {
    attribute(node, name).map { Int($0.i) } ?? fallback
  }

  func float(_ node: Onnx_NodeProto, _ name: String, default fallback: Float) -> Float {
    attribute(node, name)?.f ?? fallback
  }

  /// Refuses every attribute but `known`.
  func onlyAttributes(_ node: Onnx_NodeProto, _ known: Set<String>) throws(ONNXError) {
    for attribute in node.attribute where !known.contains(attribute.name) {
      throw problem(node, "attribute '\(attribute.name)' has no cnnc equivalent")
    }
  }

  /// A (height, width) key: one number when both are equal; nil when it is the default.
  func pair(_ values: [Int], _ node: Onnx_NodeProto, _ name: String, default fallback: Int?)
    throws(ONNXError) -> String?
  {
    guard values.count == 2 else {
      throw problem(node, "attribute '\(name)' has \(values.count) values; cnnc layers are 2-D")
    }
    if values[0] == values[1] {
      return values[0] == fallback ? nil : String(values[0])
    }
    return "[\(values[0]), \(values[1])]"
  }

  /// ONNX pads are (top, left, bottom, right); cnnc pads both sides alike.
  func symmetricPads(_ node: Onnx_NodeProto) throws(ONNXError) -> [Int] {
    let pads = ints(node, "pads", default: [0, 0, 0, 0])
    guard pads.count == 4, pads[0] == pads[2], pads[1] == pads[3] else {
      throw problem(node, "attribute 'pads' \(pads) pads the two sides unequally")
    }
    if let auto = attribute(node, "auto_pad"),
      !["", "NOTSET"].contains(String(decoding: auto.s, as: UTF8.self))
    {
      throw problem(
        node,
        "attribute 'auto_pad' \(String(decoding: auto.s, as: UTF8.self)) is not supported; give pads"
      )
    }
    return [pads[0], pads[1]]
  }

  func weight(_ node: Onnx_NodeProto, _ index: Int) throws(ONNXError) -> (
    dims: [Int], values: [Float]
  )? {
    guard index < node.input.count, !node.input[index].isEmpty else { return nil }
    guard let tensor = initializers[node.input[index]] else {
      throw problem(node, "input \(index) ('\(node.input[index])') must be an initializer")
    }
    return tensor
  }

  mutating func layer(for node: Onnx_NodeProto) throws(ONNXError) {
    let name = try layerName(node)
    var keys: [(String, String)] = []
    var layerInputs = [String]()
    var dataInputs = 1
    switch node.opType {
    case "Conv":
      try onlyAttributes(
        node, ["kernel_shape", "strides", "pads", "group", "dilations", "auto_pad"])
      guard ints(node, "dilations", default: [1, 1]).allSatisfy({ $0 == 1 }) else {
        throw problem(node, "attribute 'dilations' other than 1 is not supported")
      }
      guard let weight = try weight(node, 1), weight.dims.count == 4 else {
        throw problem(node, "its weight must be a 4-D initializer")
      }
      keys.append(("type", "conv"))
      keys.append(("filters", String(weight.dims[0])))
      let kernel = ints(node, "kernel_shape", default: Array(weight.dims[2...]))
      keys.append(("kernel", try pair(kernel, node, "kernel_shape", default: nil)!))
      if let stride = try pair(ints(node, "strides", default: [1, 1]), node, "strides", default: 1)
      {
        keys.append(("stride", stride))
      }
      if let pad = try pair(try symmetricPads(node), node, "pads", default: 0) {
        keys.append(("pad", pad))
      }
      let groups = int(node, "group", default: 1)
      if groups != 1 { keys.append(("groups", String(groups))) }
      tensors["\(name).weight"] = weight.values
      if let bias = try self.weight(node, 2) {
        tensors["\(name).bias"] = bias.values
      } else {
        keys.append(("bias", "false"))
      }
    case "MaxPool", "AveragePool":
      try onlyAttributes(
        node,
        [
          "kernel_shape", "strides", "pads", "ceil_mode", "count_include_pad", "auto_pad",
          "dilations", "storage_order",
        ])
      guard ints(node, "dilations", default: [1, 1]).allSatisfy({ $0 == 1 }),
        int(node, "storage_order", default: 0) == 0
      else {
        throw problem(node, "attribute 'dilations' other than 1 is not supported")
      }
      keys.append(("type", node.opType == "MaxPool" ? "maxpool" : "avgpool"))
      let kernel = ints(node, "kernel_shape", default: [])
      let kernelText = try pair(kernel, node, "kernel_shape", default: nil)!
      keys.append(("kernel", kernelText))
      let strides = ints(node, "strides", default: [1, 1])
      // cnnc's pooling stride defaults to the kernel.
      if strides != kernel, let stride = try pair(strides, node, "strides", default: nil) {
        keys.append(("stride", stride))
      }
      let pads = try symmetricPads(node)
      if let pad = try pair(pads, node, "pads", default: 0) { keys.append(("pad", pad)) }
      if node.opType == "AveragePool", pads != [0, 0],
        int(node, "count_include_pad", default: 0) != 1
      {
        throw problem(
          node, "attribute 'count_include_pad' 0 with padding: cnnc's average counts the padding")
      }
      if int(node, "ceil_mode", default: 0) == 0 { keys.append(("round", "floor")) }
    case "GlobalAveragePool":
      try onlyAttributes(node, [])
      keys.append(("type", "global_avgpool"))
    case "Gemm":
      try onlyAttributes(node, ["alpha", "beta", "transA", "transB"])
      guard float(node, "alpha", default: 1) == 1, float(node, "beta", default: 1) == 1,
        int(node, "transA", default: 0) == 0
      else { throw problem(node, "only alpha 1, beta 1 and transA 0 have a cnnc dense layer") }
      guard var weight = try weight(node, 1), weight.dims.count == 2 else {
        throw problem(node, "its B must be a 2-D initializer")
      }
      if int(node, "transB", default: 0) == 0 {
        // B is (in, out); cnnc keeps (out, in).
        let (rows, columns) = (weight.dims[0], weight.dims[1])
        var transposed = [Float](repeating: 0, count: weight.values.count)
        for row in 0..<rows {
          for column in 0..<columns {
            transposed[column * rows + row] = weight.values[row * columns + column]
          }
        }
        weight = ([columns, rows], transposed)
      }
      keys.append(("type", "dense"))
      keys.append(("units", String(weight.dims[0])))
      tensors["\(name).weight"] = weight.values
      if let bias = try self.weight(node, 2) {
        guard bias.values.count == weight.dims[0] else {
          throw problem(node, "its C has \(bias.values.count) values for \(weight.dims[0]) units")
        }
        tensors["\(name).bias"] = bias.values
      } else {
        keys.append(("bias", "false"))
      }
    case "Flatten":
      try onlyAttributes(node, ["axis"])
      guard int(node, "axis", default: 1) == 1 else {
        throw problem(node, "attribute 'axis' must be 1 (flatten all but the batch)")
      }
      keys.append(("type", "flatten"))
    case "Relu", "Sigmoid", "Tanh":
      try onlyAttributes(node, [])
      keys.append(("type", node.opType.lowercased()))
    case "LeakyRelu":
      try onlyAttributes(node, ["alpha"])
      keys.append(("type", "leaky_relu"))
      keys.append(("slope", "\(float(node, "alpha", default: 0.01))"))
    case "Dropout":
      try onlyAttributes(node, ["seed"])
      keys.append(("type", "dropout"))
      let rate = try weight(node, 1)?.values.first ?? 0.5
      keys.append(("rate", "\(rate)"))
    case "Add", "Sum", "Concat":
      try onlyAttributes(node, node.opType == "Concat" ? ["axis"] : [])
      if node.opType == "Concat", int(node, "axis", default: 1) != 1 {
        throw problem(node, "attribute 'axis' must be 1 (channels)")
      }
      keys.append(("type", node.opType == "Concat" ? "concat" : "add"))
      dataInputs = node.input.count
    case "BatchNormalization":
      try onlyAttributes(node, ["epsilon", "momentum", "training_mode"])
      keys.append(("type", "batchnorm"))
      let epsilon = float(node, "epsilon", default: 1e-5)
      if epsilon != 1e-5 { keys.append(("eps", "\(epsilon)")) }
      // ONNX's momentum weighs the old statistics; PyTorch's and cnnc's the new.
      let momentum = 1 - float(node, "momentum", default: 0.9)
      if abs(momentum - 0.1) > 1e-7 { keys.append(("momentum", "\(momentum)")) }
      for (index, tensor) in ["weight", "bias", "running_mean", "running_var"].enumerated() {
        guard let values = try weight(node, index + 1) else {
          throw problem(node, "its \(tensor) must be an initializer")
        }
        tensors["\(name).\(tensor)"] = values.values
      }
    case "Softmax":
      try onlyAttributes(node, ["axis"])
      guard [1, -1].contains(int(node, "axis", default: -1)) else {
        throw problem(node, "attribute 'axis' must be 1 (the channels)")
      }
      keys.append(("type", "softmax"))
    default:
      throw problem(node, "operator \(node.opType) has no cnnc layer")
    }
    for index in 0..<dataInputs {
      guard index < node.input.count, let value = values[node.input[index]] else {
        throw problem(node, "input \(index) is not the graph's input or an earlier node's output")
      }
      layerInputs.append(value)
    }
    keys.insert(("name", ONNXImport.scalar(name)), at: 1)
    if layerInputs != [previous] {
      let list = layerInputs.map(ONNXImport.scalar)
      keys.append(("input", list.count == 1 ? list[0] : "[\(list.joined(separator: ", "))]"))
    }
    layers.append(keys.map { "\($0.0): \($0.1)" }.joined(separator: ", "))
    guard let output = node.output.first else { throw problem(node, "it has no output") }
    values[output] = name
    previous = name
  }

  /// The node's name, else its output's, with characters other than letters, digits, `_`,
  /// `.` and `-` made `_` (PyTorch's "/0/Conv" becomes "0_Conv"); unique, never `input`.
  mutating func layerName(_ node: Onnx_NodeProto) throws(ONNXError) -> String {
    let given = node.name.isEmpty ? (node.output.first ?? "") : node.name
    let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "_.-"))
    var name = String(
      String.UnicodeScalarView(
        given.unicodeScalars.map { allowed.contains($0) && $0.isASCII ? $0 : "_" }))
    while name.hasPrefix("_") && name.count > 1 { name.removeFirst() }
    if name.isEmpty || name == "_" { name = node.opType.lowercased() }
    var candidate = name
    var suffix = 2
    while usedNames.contains(candidate) {
      candidate = "\(name)_\(suffix)"
      suffix += 1
    }
    usedNames.insert(candidate)
    return candidate
  }
}

extension ONNXImport {
  /// The imported weights as a checkpoint of `network` (this import's spec, checked), ready
  /// for `cnnc run --weights`; batchnorm's `num_batches_tracked` starts at 0.
  public func checkpoint(for network: InferredNetwork) throws(ONNXError) -> SafeTensors {
    let plan: ExecutionPlan
    do {
      plan = try Planner.plan(network, PlanOptions(mode: .inference, batch: 1))
    } catch {
      throw ONNXError(message: "the imported network cannot be planned: \(error.message)")
    }
    var values = [Float](repeating: 0, count: plan.parameterFloats)
    for slot in plan.parameters where slot.elementType == .float32 {
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
      values, plan.parameters, metadata: ["format": "pt", "network": network.name])
  }
}
