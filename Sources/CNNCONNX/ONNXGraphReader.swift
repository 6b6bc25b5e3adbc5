import CNNC
import Foundation

/// The walk over a graph's nodes, in their (topological) order.
struct GraphReader {
  let graph: Onnx_GraphProto
  /// The model's version of the default (ai.onnx) operator set: Softmax's meaning depends on it.
  let opset: Int
  /// Each ONNX tensor's rank, and whether its spatial dimensions are known to be 1×1 (after a
  /// global pooling): what an axis attribute is relative to.
  var forms: [String: ONNXForm] = [:]
  var initializers: [String: (dims: [Int], values: [Float])] = [:]
  var inputShape: [Int] = []
  /// The cnnc value each ONNX tensor name stands for: "input", or a layer's name.
  var values: [String: String] = [:]
  /// The layer that made the latest value, which a layer reads unless it names others.
  var previous = "input"
  var layers: [String] = []
  var tensors: [String: [Float]] = [:]
  var usedNames: Set<String> = ["input"]
  /// The next suffix to try for each base name, so that naming stays linear in the nodes.
  var nextSuffix: [String: Int] = [:]
  /// What the import left out, for the user: nodes the declared output does not depend on.
  var notes: [String] = []

  /// The ai.onnx opsets whose operators cnnc maps as documented (each layer's `onnx` reading); a
  /// model declaring another is refused, not guessed at.
  static let supportedOpsets = 7...22

  init(graph: Onnx_GraphProto, opset: Int) {
    self.graph = graph
    self.opset = opset
  }

  mutating func read() throws(ONNXError) {
    // Refused before any work that grows with the nodes: a spec may not have more layers.
    guard graph.node.count <= Limits.maximumLayerCount else {
      throw ONNXError(
        message: "the graph has \(graph.node.count) nodes; a cnnc network has at most "
          + "\(Limits.maximumLayerCount) layers")
    }
    for tensor in graph.initializer {
      guard initializers[tensor.name] == nil else {
        throw ONNXError(message: "initializer '\(tensor.name)' is defined twice")
      }
      initializers[tensor.name] = (tensor.dims.map { Int($0) }, try floats(of: tensor))
    }
    let live = try nodesTheOutputNeeds()
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
    forms[input.name] = ONNXForm(rank: dims.count + 1, unitPlane: dims.count == 1)
    // A Flatten read only by a Gemm is left out: cnnc's dense layer flattens its input itself.
    let nodes = live.map { graph.node[$0] }
    var readers: [String: Int] = [:]
    for node in nodes { for name in node.input { readers[name, default: 0] += 1 } }
    let gemmInputs = Set(nodes.filter { $0.opType == "Gemm" }.compactMap(\.input.first))
    let foldable = Set(
      nodes.filter { node in
        node.opType == "Flatten" && readers[node.output.first ?? "", default: 0] == 1
          && gemmInputs.contains(node.output.first ?? "")
      }.compactMap(\.output.first))
    for node in nodes {
      if node.opType == "Identity" || foldable.contains(node.output.first ?? "") {
        try alias(node)
        continue
      }
      try layer(for: node)
    }
    if values[output] == "input" {
      throw ONNXError(message: "the graph's output '\(output)' is its input: there is no layer")
    }
    // A node's other outputs (Dropout's mask, MaxPool's indices) have no cnnc value.
    guard values[output] != nil else {
      throw ONNXError(
        message: "the graph's output '\(output)' is not a node's first output; cnnc layers have "
          + "one output")
    }
  }

  /// The graph's one declared output: ONNX's answer is that tensor, whatever the last node is.
  var output: String { graph.output.first?.name ?? "" }

  /// The indices of the nodes the declared output depends on, in graph order; the others are
  /// dropped with a note. Refuses a graph with other than one output, an output or node input
  /// that nothing makes, and a tensor two nodes make.
  mutating func nodesTheOutputNeeds() throws(ONNXError) -> [Int] {
    guard graph.output.count == 1 else {
      let names = graph.output.prefix(5).map { "'\($0.name)'" }.joined(separator: ", ")
      throw ONNXError(
        message:
          "the graph declares \(graph.output.count) outputs\(names.isEmpty ? "" : " (\(names))"); "
          + "a cnnc network has one")
    }
    let graphInputs = Set(graph.input.map(\.name))
    var maker: [String: Int] = [:]
    for (index, node) in graph.node.enumerated() {
      for name in node.output where !name.isEmpty {
        guard maker[name] == nil, initializers[name] == nil, !graphInputs.contains(name) else {
          throw problem(node, "its output '\(name)' is already defined by an earlier node or input")
        }
        maker[name] = index
      }
    }
    var needed = Set<Int>()
    var pending = [output]
    guard maker[output] != nil || graphInputs.contains(output), initializers[output] == nil else {
      throw ONNXError(message: "the graph's output '\(output)' is made by no node")
    }
    while let name = pending.popLast() {
      guard let index = maker[name], needed.insert(index).inserted else { continue }
      pending += graph.node[index].input
    }
    let dropped = graph.node.indices.filter { !needed.contains($0) }
    if !dropped.isEmpty {
      let shown = dropped.prefix(5).map { "'\(graph.node[$0].name)' (\(graph.node[$0].opType))" }
      notes.append(
        "\(dropped.count) node\(dropped.count == 1 ? "" : "s") the output '\(output)' does not "
          + "depend on left out: \(shown.joined(separator: ", "))\(dropped.count > 5 ? ", …" : "")")
    }
    return needed.sorted()
  }

  func floats(of tensor: Onnx_TensorProto) throws(ONNXError) -> [Float] {
    guard tensor.dataType == Int32(Onnx_TensorProto.DataType.float.rawValue) else {
      throw ONNXError(
        message: "initializer '\(tensor.name)': element type \(tensor.dataType) is not float32")
    }
    // Dims are checked before any arithmetic on them: negative, or a product past the limits.
    guard tensor.dims.allSatisfy({ $0 >= 0 && $0 <= Int64(Limits.maximumSize) }),
      let count = checkedProduct(tensor.dims.map { Int($0) })
    else {
      throw ONNXError(
        message: "initializer '\(tensor.name)': dims \(tensor.dims) are negative or too large")
    }
    guard tensor.dataLocation != .external else {
      let file = tensor.externalData.first { $0.key == "location" }?.value ?? "?"
      throw ONNXError(
        message: "initializer '\(tensor.name)' keeps its values in an external file ('\(file)'); "
          + "cnnc reads models whose weights are inside the .onnx file (save with onnx.save(model, "
          + "path, save_as_external_data=False))")
    }
    let values: [Float]
    if !tensor.rawData.isEmpty {
      guard tensor.rawData.count == count * MemoryLayout<Float>.size else {
        throw ONNXError(
          message: "initializer '\(tensor.name)': raw_data holds \(tensor.rawData.count) bytes, "
            + "but dims \(tensor.dims) of float32 take \(count * MemoryLayout<Float>.size)")
      }
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
    forms[output] = node.opType == "Flatten" ? ONNXForm(rank: 2) : forms[input]
  }

  func problem(_ node: Onnx_NodeProto, _ text: String) -> ONNXError {
    ONNXError.node(node.name, node.opType, text)
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
    var suffix = nextSuffix[name] ?? 2
    while usedNames.contains(candidate) {
      candidate = "\(name)_\(suffix)"
      suffix += 1
    }
    nextSuffix[name] = suffix
    usedNames.insert(candidate)
    return candidate
  }
}
