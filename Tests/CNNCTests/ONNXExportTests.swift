import Foundation
import SwiftProtobuf
import Testing

@testable import CNNC
@testable import CNNCONNX

/// `ONNXExport` read back through the ONNX protobuf schema; the numbers against ONNX Runtime are
/// scripts/onnx-export-check.py's.
@Suite struct ONNXExportTests {
  static func exported(_ yaml: String) throws -> (InferredNetwork, Onnx_ModelProto, [Float]) {
    let network = try InferredNetwork(yaml: yaml, name: "net")
    let plan = try Planner.plan(network, PlanOptions(mode: .inference, batch: 1))
    let weights = (0..<plan.parameterFloats).map { Float($0 % 97) / 97 }
    let data = try ONNXExport.model(network, parameters: plan.parameters, weights: weights)
    return (network, try Onnx_ModelProto(serializedBytes: data), weights)
  }

  @Test func nodesInitializersAndTheSymbolicBatch() throws {
    let (network, model, weights) = try Self.exported(
      """
      input: [3, 8, 8]
      layers:
        - {type: conv, name: c1, filters: 4, kernel: 3, pad: 1, stride: 2, groups: 1}
        - {type: batchnorm, name: bn}
        - {type: relu, name: r}
        - {type: conv, name: dw, filters: 4, kernel: 3, groups: 4, bias: false}
        - {type: dense, name: fc, units: 5}
        - {type: softmax, name: prob}
      """)
    #expect(model.opsetImport.map(\.version) == [13])
    let graph = model.graph
    #expect(
      graph.node.map(\.opType) == [
        "Conv", "BatchNormalization", "Relu", "Conv", "Flatten", "Gemm", "Softmax",
      ])
    #expect(graph.node.map(\.name) == ["c1", "bn", "r", "dw", "fc.flatten", "fc", "prob"])
    // Each node reads the previous layer's output by its name, and its tensors by theirs.
    #expect(
      graph.node[1].input == ["c1", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"])
    #expect(graph.node[3].input == ["r", "dw.weight"])
    #expect(graph.node[5].input == ["fc.flatten", "fc.weight", "fc.bias"])
    let group = try #require(graph.node[3].attribute.first { $0.name == "group" })
    #expect(group.i == 4)
    let pads = try #require(graph.node[0].attribute.first { $0.name == "pads" })
    #expect(pads.ints == [1, 1, 1, 1])
    // The batch is symbolic; the rest of the input's and the output's shapes are fixed.
    let input = graph.input[0].type.tensorType.shape.dim
    #expect(input.map(\.dimParam) == ["batch", "", "", ""])
    #expect(input.dropFirst().map(\.dimValue) == [3, 8, 8])
    #expect(graph.output[0].type.tensorType.shape.dim.dropFirst().map(\.dimValue) == [5])
    // Every float tensor, with its values as stored (num_batches_tracked, an int, is left out).
    let plan = try Planner.plan(network, PlanOptions(mode: .inference, batch: 1))
    let floats = plan.parameters.filter { $0.elementType == .float32 }
    #expect(graph.initializer.map(\.name) == floats.map(\.name))
    for (initializer, slot) in zip(graph.initializer, floats) {
      #expect(initializer.dims == slot.dimensions.map(Int64.init))
      let values = initializer.rawData.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
      #expect(values == Array(weights[slot.range]), "\(slot.name)")
    }
  }

  @Test func aConvolutionOverAFlatTensorIsRefusedByName() throws {
    let error = #expect(throws: ONNXError.self) {
      _ = try Self.exported(
        """
        input: [1, 4, 4]
        layers:
          - {type: dense, name: fc, units: 6}
          - {type: conv, name: late, filters: 2, kernel: 1}
        """)
    }
    #expect(error?.message.contains("'late'") == true, "\(String(describing: error))")
    #expect(error?.message.contains("is flat in ONNX") == true)
  }
}
