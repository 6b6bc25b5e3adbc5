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

/// `ONNXImport` of exported models gives back the spec and the weights; what cnnc cannot
/// express is refused naming the node, operator and attribute.
@Suite struct ONNXImportTests {
  @Test(arguments: [
    "lenet.yaml", "allconv-bn.yaml", "mobilenet-mnist.yaml", "inception.yaml",
    "residual.yaml",
  ])
  func exportThenImportGivesTheSameNetworkAndWeights(_ model: String) throws {
    let text = try String(contentsOfFile: modelPath(model), encoding: .utf8)
    let network = try InferredNetwork(yaml: text, name: model)
    let plan = try Planner.plan(network, PlanOptions(mode: .inference, batch: 1))
    // Distinct values in every float tensor; zeros between slots (the storage's alignment) and
    // in num_batches_tracked, which an import starts at 0.
    var weights = [Float](repeating: 0, count: plan.parameterFloats)
    for slot in plan.parameters where slot.elementType == .float32 {
      for index in slot.range { weights[index] = Float((index * 7919) % 1000) / 1000 - 0.5 }
    }
    let data = try ONNXExport.model(network, parameters: plan.parameters, weights: weights)
    let imported = try ONNXImport(data, name: "again")
    let again = try InferredNetwork(yaml: imported.yaml, name: "again")
    #expect(again.input == network.input)
    #expect(again.layers.map(\.name) == network.layers.map(\.name))
    #expect(again.layers.map(\.typeName) == network.layers.map(\.typeName))
    #expect(again.layers.map(\.output) == network.layers.map(\.output))
    #expect(again.layers.map(\.parameterCount) == network.layers.map(\.parameterCount))
    let checkpoint = try imported.checkpoint(for: again)
    let reread = try Checkpoints.values(
      of: checkpoint, path: "again", plan.parameters, floats: plan.parameterFloats)
    #expect(reread == weights, "the weights differ after the round trip")
  }

  @Test func whatCnncCannotExpressIsRefusedByName() throws {
    var graph = Onnx_GraphProto()
    var input = Onnx_ValueInfoProto()
    input.name = "x"
    input.type.tensorType.shape.dim = [1, 1, 8, 8].map { size in
      var dimension = Onnx_TensorShapeProto.Dimension()
      dimension.dimValue = Int64(size)
      return dimension
    }
    graph.input = [input]
    var node = Onnx_NodeProto()
    node.name = "pool"
    node.opType = "MaxPool"
    node.input = ["x"]
    node.output = ["y"]
    var kernel = Onnx_AttributeProto()
    kernel.name = "kernel_shape"
    kernel.ints = [2, 2]
    var dilations = Onnx_AttributeProto()
    dilations.name = "dilations"
    dilations.ints = [2, 2]
    node.attribute = [kernel, dilations]
    graph.node = [node]
    var model = Onnx_ModelProto()
    model.graph = graph
    let error = #expect(throws: ONNXError.self) {
      _ = try ONNXImport(try model.serializedData(), name: "m")
    }
    #expect(
      error?.message == "node 'pool' (MaxPool): attribute 'dilations' other than 1 is not supported"
    )

    graph.node[0].opType = "LRN"
    model.graph = graph
    let unknown = #expect(throws: ONNXError.self) {
      _ = try ONNXImport(try model.serializedData(), name: "m")
    }
    #expect(unknown?.message == "node 'pool' (LRN): operator LRN has no cnnc layer")
    #expect(throws: ONNXError.self) { _ = try ONNXImport(Data([1, 2, 3, 255]), name: "m") }
  }
}

/// `cnnc export` and `cnnc import` as processes: bad input is a located error, exit 1, and
/// nothing written.
@Suite struct ONNXCommandTests {
  typealias CLI = CommandLineTests

  @Test func badInputIsAnErrorAndWritesNothing() throws {
    let garbage = try CLI.temporaryFile("not protobuf at all \u{1}\u{2}", name: "bad.onnx")
    let folder = (garbage as NSString).deletingLastPathComponent
    let spec = folder + "/out.yaml"
    let run = try CLI.run(["import", garbage, "-o", spec])
    #expect(run.status == 1)
    #expect(run.stderr.contains("bad.onnx: not an ONNX model"), "\(run.stderr)")
    #expect(!FileManager.default.fileExists(atPath: spec))

    let model = folder + "/lenet.onnx"
    let export = try CLI.run([
      "export", "Models/lenet.yaml", "--weights", folder + "/missing.safetensors", "-o", model,
    ])
    #expect(export.status == 1)
    #expect(export.stderr.contains("missing.safetensors"), "\(export.stderr)")
    #expect(!FileManager.default.fileExists(atPath: model))
  }
}
