import CNNC
import Foundation
import SwiftProtobuf

/// A network and its weights as an ONNX model (opset 13): one node per layer, named as the
/// layer, reading the layers' outputs by their names; the weights as initializers named as in
/// checkpoints (`conv1.weight`); the input `input` of shape (batch, C, H, W) with a symbolic
/// batch. Inference form: dropout is an identity, batchnorm uses its running statistics.
public enum ONNXExport {
  public static let opset: Int64 = 13

  /// The serialized model; `weights` laid out as `parameters` (an inference plan's).
  public static func model(
    _ network: InferredNetwork, parameters: [ParameterSlot], weights: [Float]
  ) throws(ONNXError) -> Data {
    var graph = Onnx_GraphProto()
    graph.name = network.name
    graph.input = [valueInfo("input", shape: network.input, rank: 4)]
    // Each value's name and rank in ONNX: convolutional tensors are (N, C, H, W); a dense
    // layer's and a flatten's output are (N, K).
    var names = ["input"]
    var ranks = [4]
    for (index, layer) in network.layers.enumerated() {
      guard let kind = layer.spec.layer, let output = layer.output else {
        throw ONNXError(message: "\(layer.spec.subject): the spec has errors; run cnnc check")
      }
      let inputs = layer.inputs.map { input -> Int in
        switch input {
        case .networkInput: return 0
        case .layer(let source): return source + 1
        }
      }
      let inputNames = inputs.map { names[$0] }
      let inputRanks = inputs.map { ranks[$0] }
      let tensors = parameters.filter { $0.layer == index }
      func tensor(_ name: String) -> String? {
        tensors.first { $0.name == "\(layer.name).\(name)" }?.name
      }
      var node = Onnx_NodeProto()
      node.name = layer.name
      node.input = inputNames
      node.output = [layer.name]
      let mapping = kind.onnxOperator(inputCount: inputNames.count)
      var rank = inputRanks[0]
      switch mapping.input {
      case .any: break
      case .image:
        guard rank == 4 else {
          throw ONNXError(
            message: "\(layer.spec.subject): its input is flat in ONNX (after a dense layer or "
              + "a flatten), where \(layer.typeName) needs (N, C, H, W)")
        }
      case .flat:
        if rank == 4 {
          var flatten = Onnx_NodeProto()
          flatten.name = "\(layer.name).flatten"
          flatten.opType = "Flatten"
          flatten.input = inputNames
          flatten.output = [flatten.name]
          flatten.attribute = [attribute("axis", .int(1))]
          graph.node.append(flatten)
          node.input = [flatten.name]
        }
      case .alike:
        guard Set(inputRanks).count == 1 else {
          throw ONNXError(
            message: "\(layer.spec.subject): its inputs mix flat and (N, C, H, W) tensors in ONNX")
        }
      }
      node.opType = mapping.type
      node.input += mapping.tensors.compactMap(tensor)
      node.attribute = mapping.attributes.map { attribute($0.name, $0.value) }
      if mapping.outputIsFlat { rank = 2 }
      graph.node.append(node)
      names.append(layer.name)
      ranks.append(rank)
      if index == network.layers.count - 1 {
        graph.output = [valueInfo(layer.name, shape: output, rank: rank)]
      }
    }
    for slot in parameters where slot.elementType == .float32 {
      var initializer = Onnx_TensorProto()
      initializer.name = slot.name
      initializer.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
      initializer.dims = slot.dimensions.map(Int64.init)
      initializer.rawData = weights[slot.range].withUnsafeBytes { Data($0) }
      graph.initializer.append(initializer)
    }
    return try serialized(graph)
  }

  /// `graph` as an opset-13 model's bytes.
  static func serialized(_ graph: Onnx_GraphProto) throws(ONNXError) -> Data {
    var model = Onnx_ModelProto()
    model.irVersion = 8
    model.producerName = "cnnc"
    model.graph = graph
    var operatorSet = Onnx_OperatorSetIdProto()
    operatorSet.version = opset
    model.opsetImport = [operatorSet]
    do {
      return try model.serializedData()
    } catch {
      throw ONNXError(message: "the model could not be encoded: \(error)")
    }
  }

  static func valueInfo(_ name: String, shape: Shape, rank: Int) -> Onnx_ValueInfoProto {
    var batch = Onnx_TensorShapeProto.Dimension()
    batch.dimParam = "batch"
    var dimensions = [batch]
    let sizes = rank == 4 ? [shape.channels, shape.height, shape.width] : [shape.elementCount ?? 0]
    for size in sizes {
      var dimension = Onnx_TensorShapeProto.Dimension()
      dimension.dimValue = Int64(size)
      dimensions.append(dimension)
    }
    var type = Onnx_TypeProto()
    type.tensorType.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
    type.tensorType.shape.dim = dimensions
    var info = Onnx_ValueInfoProto()
    info.name = name
    info.type = type
    return info
  }

  static func attribute(_ name: String, _ value: ONNXOperator.Value)
    -> Onnx_AttributeProto
  {
    var attribute = Onnx_AttributeProto()
    attribute.name = name
    switch value {
    case .int(let value):
      attribute.type = .int
      attribute.i = Int64(value)
    case .ints(let values):
      attribute.type = .ints
      attribute.ints = values.map(Int64.init)
    case .float(let value):
      attribute.type = .float
      attribute.f = value
    }
    return attribute
  }
}
