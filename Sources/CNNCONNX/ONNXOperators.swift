import CNNC
import Foundation

/// A node as the layer its operator stands for: the layer type named by
/// `LayerRegistry.type(forONNXOperator:)` reads the node's attributes and initializers (in the
/// layer's own file); here the node is wired to the values before it.
extension GraphReader {
  mutating func layer(for node: Onnx_NodeProto) throws(ONNXError) {
    let name = try layerName(node)
    guard let type = LayerRegistry.type(forONNXOperator: node.opType) else {
      throw problem(node, "operator \(node.opType) has no cnnc layer")
    }
    let attributes = node.attribute.map { attribute in
      ONNXNodeReader.Attribute(
        name: attribute.name, int: Int(attribute.i), ints: attribute.ints.map { Int($0) },
        float: attribute.f, string: String(decoding: attribute.s, as: UTF8.self))
    }
    var reader = ONNXNodeReader(
      operatorType: node.opType, nodeName: node.name, layerName: name, opset: opset,
      inputForm: node.input.first.flatMap { forms[$0] } ?? ONNXForm(rank: 4),
      attributes: attributes, inputs: node.input, initializers: initializers)
    try type.onnx.read(&reader)
    var layerInputs = [String]()
    for index in 0..<reader.dataInputs {
      guard index < node.input.count, let value = values[node.input[index]] else {
        throw problem(node, "input \(index) is not the graph's input or an earlier node's output")
      }
      layerInputs.append(value)
    }
    var keys = [("type", type.name), ("name", ONNXImport.scalar(name))] + reader.keys
    if layerInputs != [previous] {
      let list = layerInputs.map(ONNXImport.scalar)
      keys.append(("input", list.count == 1 ? list[0] : "[\(list.joined(separator: ", "))]"))
    }
    layers.append(keys.map { "\($0.0): \($0.1)" }.joined(separator: ", "))
    tensors.merge(reader.tensors) { _, new in new }
    guard let output = node.output.first else { throw problem(node, "it has no output") }
    values[output] = name
    forms[output] = reader.outputForm
    previous = name
  }
}
