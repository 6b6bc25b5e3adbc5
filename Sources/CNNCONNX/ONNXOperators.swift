import CNNC
import Foundation

/// Each ONNX operator cnnc has, as a spec layer: its keys (those that differ from cnnc's
/// defaults) and its tensors under their checkpoint names.
extension GraphReader {
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
      guard ints(node, "dilations", default: [1, 1]).allSatisfy({ $0 == 1 }) else {
        throw problem(node, "attribute 'dilations' other than 1 is not supported")
      }
      guard int(node, "storage_order", default: 0) == 0 else {
        throw problem(node, "attribute 'storage_order' other than 0 (row major) is not supported")
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
      try checkSoftmaxAxis(node)
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
    let form = node.input.first.flatMap { forms[$0] } ?? (4, false)
    switch node.opType {
    case "Gemm": forms[output] = (2, false)
    case "GlobalAveragePool": forms[output] = (form.rank, true)
    default: forms[output] = form
    }
    previous = name
  }
}

extension GraphReader {
  /// cnnc's softmax is over the channels at each position. From opset 13, ONNX's is over one
  /// axis (default −1, the last: a 4-D tensor's width); before, over every dimension from `axis`
  /// on (default 1) taken together, which is the channels alone only when nothing follows them
  /// (a 2-D tensor, or a 1×1 plane after global pooling).
  func checkSoftmaxAxis(_ node: Onnx_NodeProto) throws(ONNXError) {
    let form = node.input.first.flatMap { forms[$0] } ?? (rank: 4, unitPlane: false)
    let axis = int(node, "axis", default: opset >= 13 ? -1 : 1)
    let normalized = axis < 0 ? axis + form.rank : axis
    let overChannels =
      opset >= 13 ? normalized == 1 : normalized == 1 && (form.rank == 2 || form.unitPlane)
    guard !overChannels else { return }
    let meaning =
      opset >= 13
      ? "axis \(axis) of its \(form.rank)-D input (opset \(opset))"
      : "every dimension from axis \(axis) on of its \(form.rank)-D input together (opset "
        + "\(opset) flattens them)"
    throw problem(
      node,
      "it is a softmax over \(meaning); cnnc's softmax is over the channels (axis 1) at each "
        + "position")
  }
}
