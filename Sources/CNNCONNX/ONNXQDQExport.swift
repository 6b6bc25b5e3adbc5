import CNNC
import Foundation
import SwiftProtobuf

/// An int8 network as an ONNX QDQ model (opset 13), the form ONNX Runtime's quantizer writes:
/// the float operators of the network's `DevicePlan` steps (batchnorm folded), each int8 value
/// passed through QuantizeLinear and DequantizeLinear with its scale and zero point, the int8
/// weights (`L.weight_quantized`, per output channel on axis 0) and int32 biases
/// (`L.bias_quantized`) dequantized by DequantizeLinear. A runtime that fuses the pairs into its
/// int8 kernels runs the same integer network as cnnc, up to its rounding (ONNX's
/// QuantizeLinear rounds halves to even; cnnc halves away from zero). Steps kept in float read
/// and write dequantized values, as cnnc runs them.
extension ONNXExport {
  public static func qdqModel(_ network: QuantizedNetwork) throws(ONNXError) -> Data {
    var writer = QDQWriter(network: network)
    try writer.write()
    return try serialized(writer.graph)
  }
}

private struct QDQWriter {
  let network: QuantizedNetwork
  var graph = Onnx_GraphProto()
  /// The ONNX value of the network's input and of each spec layer written so far: its name and
  /// rank (4: N, C, H, W; 2: flat).
  var input = (name: "", rank: 4)
  var values: [Int: (name: String, rank: Int)] = [:]

  init(network: QuantizedNetwork) { self.network = network }

  var plan: DevicePlan { network.plan }

  mutating func write() throws(ONNXError) {
    let layers = plan.network.layers
    graph.name = plan.network.name
    graph.input = [valueInfo("input", rank: 4, sizes: plan.network.input)]
    input = (qdq("input", network.input, name: "input.int8"), 4)
    for (index, step) in plan.steps.enumerated() {
      let isFloat = network.floatSteps.contains(index)
      let isLast = index == plan.steps.count - 1
      var stepInputs: [(name: String, rank: Int)] = []
      for input in layers[step.layers[0]].inputs { stepInputs.append(try self.value(of: input)) }
      guard let firstInput = stepInputs.first else {
        throw ONNXError(message: "step \(index) reads no value")
      }
      var value = firstInput.name
      var rank = firstInput.rank
      let int8 = network.int8Constants(ofStep: index)
      for layerIndex in step.layers {
        let layer = layers[layerIndex]
        guard let kind = layer.spec.layer else {
          throw ONNXError(message: "\(layer.spec.subject): the spec has errors; run cnnc check")
        }
        let mapping = kind.onnxOperator(inputCount: step.inputs.count)
        if mapping.type == "BatchNormalization" {
          if case .affine = step.operation {
            throw ONNXError(
              message: "\(layer.spec.subject): a batchnorm that is not folded into a "
                + "convolution has no int8 ONNX form yet")
          }
          continue  // folded into the convolution's weights
        }
        var inputs = layerIndex == step.layers[0] ? stepInputs.map(\.name) : [value]
        switch mapping.input {
        case .image where rank != 4:
          throw ONNXError(message: "\(layer.spec.subject): its input is flat in ONNX")
        case .alike where Set(stepInputs.map(\.rank)).count > 1:
          throw ONNXError(
            message: "\(layer.spec.subject): its inputs mix flat and (N, C, H, W) tensors in ONNX")
        case .flat where rank == 4:
          inputs[0] = node(
            "Flatten", [inputs[0]], name: "\(layer.name).flatten", [("axis", .int(1))])
          rank = 2
        default: break
        }
        if mapping.type == "Conv" || mapping.type == "Gemm" {
          inputs += try weights(layer.name, index, step, int8, isFloat: isFloat)
        } else if !mapping.tensors.isEmpty {
          throw ONNXError(message: "\(layer.spec.subject): \(mapping.type) has no int8 ONNX form")
        }
        // A pooling fused into an int8 convolution reads the convolution's int8 output.
        if case .convolution(_, _, _, _, let pooling?) = step.operation,
          pooling.layer == layerIndex,
          !isFloat
        {
          inputs[0] = qdq(inputs[0], network.outputs[index], name: "\(inputs[0]).int8")
        }
        value = node(mapping.type, inputs, name: layer.name, mapping.attributes)
        if mapping.outputIsFlat { rank = 2 }
      }
      if !(isLast && isFloat) {
        value = qdq(value, network.outputs[index], name: "\(value).int8")
      }
      for layerIndex in step.layers { values[layerIndex] = (value, rank) }
    }
    let output = try value(of: .layer(layers.count - 1))
    graph.output = [valueInfo(output.name, rank: output.rank, sizes: layers.last?.output)]
  }

  /// The value `input` stands for. A layer no step computes is a view of its input (a flatten,
  /// a dropout): a flatten of an image becomes a Flatten node, anything else the value itself.
  mutating func value(of input: LayerInput) throws(ONNXError) -> (name: String, rank: Int) {
    guard case .layer(let index) = input else { return self.input }
    if let value = values[index] { return value }
    let layer = plan.network.layers[index]
    guard let source = layer.inputs.first else {
      throw ONNXError(message: "\(layer.spec.subject): a view without an input")
    }
    var value = try self.value(of: source)
    if value.rank == 4, layer.spec.layer?.onnxOperator(inputCount: 1).type == "Flatten" {
      value = (node("Flatten", [value.name], name: layer.name, [("axis", .int(1))]), 2)
    }
    values[index] = value
    return value
  }

  /// A convolution's or dense layer's weight and bias: int8 and int32 initializers behind
  /// DequantizeLinear, or the step's float constants when it runs in float.
  mutating func weights(
    _ name: String, _ index: Int, _ step: DevicePlan.Step,
    _ int8: QuantizedNetwork.Int8Constants?, isFloat: Bool
  ) throws(ONNXError) -> [String] {
    let shape = weightShape(step.operation)
    guard let channels = shape.first else { throw ONNXError(message: "\(name): no weights") }
    guard let int8, !isFloat else {
      let weight = step.constants.first { $0.role == "weight" }?.values ?? []
      let bias =
        step.constants.first { $0.role == "bias" }?.values
        ?? [Float](repeating: 0, count: channels)
      addFloat("\(name).weight", shape, weight)
      addFloat("\(name).bias", [channels], bias)
      return ["\(name).weight", "\(name).bias"]
    }
    let inputScale = network.inputMappings(ofStep: index)[0].scale
    add("\(name).weight_quantized", .int8, shape, int8.weights.withUnsafeBytes { Data($0) })
    addFloat("\(name).weight_scale", [channels], int8.weightScales)
    add("\(name).weight_zero_point", .int8, [channels], Data(count: channels))
    add("\(name).bias_quantized", .int32, [channels], int8.bias.withUnsafeBytes { Data($0) })
    addFloat("\(name).bias_scale", [channels], int8.weightScales.map { $0 * inputScale })
    add("\(name).bias_zero_point", .int32, [channels], Data(count: 4 * channels))
    let weight = node(
      "DequantizeLinear",
      ["\(name).weight_quantized", "\(name).weight_scale", "\(name).weight_zero_point"],
      name: "\(name).weight", [("axis", .int(0))])
    let bias = node(
      "DequantizeLinear",
      ["\(name).bias_quantized", "\(name).bias_scale", "\(name).bias_zero_point"],
      name: "\(name).bias", [("axis", .int(0))])
    return [weight, bias]
  }

  func weightShape(_ operation: DevicePlan.Operation) -> [Int] {
    switch operation {
    case .convolution(let window, let filters, let groups, _, _):
      [filters, window.channels / groups, window.kernelHeight, window.kernelWidth]
    case .dense(let inputs, let units, _): [units, inputs]
    default: []
    }
  }

  /// `value` through QuantizeLinear and DequantizeLinear with `mapping` (int8); returns the
  /// dequantized value's name.
  mutating func qdq(_ value: String, _ mapping: QuantizationParameters, name: String) -> String {
    addFloat("\(name).scale", [], [mapping.scale])
    add("\(name).zero_point", .int8, [], Data([UInt8(bitPattern: Int8(mapping.zeroPoint))]))
    let quantized = node(
      "QuantizeLinear", [value, "\(name).scale", "\(name).zero_point"], name: "\(name).q")
    return node(
      "DequantizeLinear", [quantized, "\(name).scale", "\(name).zero_point"], name: name)
  }

  /// Appends a node whose one output is named as the node; returns the name.
  @discardableResult
  mutating func node(
    _ type: String, _ inputs: [String], name: String,
    _ attributes: [(name: String, value: ONNXOperator.Value)] = []
  ) -> String {
    var node = Onnx_NodeProto()
    node.name = name
    node.opType = type
    node.input = inputs
    node.output = [name]
    node.attribute = attributes.map { ONNXExport.attribute($0.name, $0.value) }
    graph.node.append(node)
    return name
  }

  mutating func add(
    _ name: String, _ type: Onnx_TensorProto.DataType, _ dims: [Int], _ data: Data
  ) {
    var tensor = Onnx_TensorProto()
    tensor.name = name
    tensor.dataType = Int32(type.rawValue)
    tensor.dims = dims.map(Int64.init)
    tensor.rawData = data
    graph.initializer.append(tensor)
  }

  mutating func addFloat(_ name: String, _ dims: [Int], _ values: [Float]) {
    add(name, .float, dims, values.withUnsafeBytes { Data($0) })
  }

  func valueInfo(_ name: String, rank: Int, sizes shape: Shape?) -> Onnx_ValueInfoProto {
    ONNXExport.valueInfo(name, shape: shape ?? Shape(channels: 0, height: 0, width: 0), rank: rank)
  }
}
