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

  /// An int8 network as QDQ: batchnorm folded away, every int8 value between QuantizeLinear and
  /// DequantizeLinear with its own scale and zero point, int8 weights and int32 biases behind
  /// DequantizeLinear on axis 0, the last float step (softmax) reading dequantized values.
  @Test func anInt8NetworkIsWrittenAsQDQ() throws {
    let network = try InferredNetwork(
      yaml: """
        input: [2, 6, 6]
        layers:
          - {type: conv, name: c1, filters: 3, kernel: 3, pad: 1}
          - {type: batchnorm, name: bn}
          - {type: relu, name: r}
          - {type: maxpool, name: p, kernel: 2, stride: 2}
          - {type: dense, name: fc, units: 4}
          - {type: softmax, name: prob}
        """, name: "net")
    let plan = try DevicePlan(network, parameters: try DevicePlanTests.parameters(network))
    let quantized = try QuantizedNetwork(
      plan, calibration: Int8CheckpointTests.randomImages(4, floats: 72, seed: 1))
    let model = try Onnx_ModelProto(serializedBytes: try ONNXExport.qdqModel(quantized))
    let graph = model.graph
    #expect(
      graph.node.map(\.opType) == [
        "QuantizeLinear", "DequantizeLinear",  // the input
        "DequantizeLinear", "DequantizeLinear", "Conv", "Relu",  // c1's weight and bias
        "QuantizeLinear", "DequantizeLinear", "MaxPool", "QuantizeLinear", "DequantizeLinear",
        "Flatten", "DequantizeLinear", "DequantizeLinear", "Gemm", "QuantizeLinear",
        "DequantizeLinear", "Softmax",
      ])
    let types = Dictionary(uniqueKeysWithValues: graph.initializer.map { ($0.name, $0.dataType) })
    #expect(types["c1.weight_quantized"] == Int32(Onnx_TensorProto.DataType.int8.rawValue))
    #expect(types["c1.bias_quantized"] == Int32(Onnx_TensorProto.DataType.int32.rawValue))
    #expect(types["bn.weight"] == nil)
    let weights = try #require(graph.initializer.first { $0.name == "c1.weight_quantized" })
    #expect(weights.dims == [3, 2, 3, 3])
    #expect(
      Array(weights.rawData).map { Int8(bitPattern: $0) }
        == quantized.int8Constants(ofStep: 0)?.weights)
    // The convolution's output mapping is the step's own.
    let scale = try #require(graph.initializer.first { $0.name == "r.int8.scale" })
    let stored = scale.rawData.withUnsafeBytes { $0.load(as: Float.self) }
    #expect(stored == quantized.outputs[0].scale)
    #expect(graph.output.map(\.name) == ["prob"])
  }

  /// Views (a flatten, a dropout) have no step of their own; their ONNX values do: a flatten of
  /// an image is a Flatten node, so an add of it and a dense layer reads two flat tensors.
  @Test func anInt8FlattenIsAFlattenNode() throws {
    let network = try InferredNetwork(
      yaml: """
        input: [1, 4, 4]
        layers:
          - {type: conv, name: c, filters: 1, kernel: 1}
          - {type: flatten, name: f}
          - {type: dropout, name: drop, rate: 0.5}
          - {type: dense, name: d, units: 16}
          - {type: add, name: sum, input: [f, d]}
        """, name: "net")
    let plan = try DevicePlan(network, parameters: try DevicePlanTests.parameters(network))
    let quantized = try QuantizedNetwork(
      plan, calibration: Int8CheckpointTests.randomImages(4, floats: 16, seed: 2))
    let graph = try Onnx_ModelProto(serializedBytes: try ONNXExport.qdqModel(quantized)).graph
    let flatten = try #require(graph.node.first { $0.name == "f" })
    #expect(flatten.opType == "Flatten")
    let add = try #require(graph.node.first { $0.opType == "Add" })
    #expect(add.input.first == "f")
    #expect(graph.node.first { $0.opType == "Gemm" }?.input.first == "f")
    #expect(graph.output.first?.type.tensorType.shape.dim.count == 2)
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
  /// Every registered layer type is in a spec that exports, and comes back from the import
  /// (dropout, nothing at inference, comes back as nothing: ONNX's Identity): a new layer type
  /// without its ONNX cases fails here, not at a user's `cnnc export`.
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
    graph.output = [Self.valueInfo("y")]
    var model = Onnx_ModelProto()
    model.graph = graph
    model.opsetImport = [Self.opset(13)]
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

  static func opset(_ version: Int64) -> Onnx_OperatorSetIdProto {
    var set = Onnx_OperatorSetIdProto()
    set.version = version
    return set
  }

  /// A model of `nodes` (operator, attributes as name → ints) in a chain from an input of
  /// `dims` (batch first), at `opset` (nil: none declared).
  static func chain(_ dims: [Int64], _ nodes: [(String, [String: [Int64]])], opset: Int64?)
    throws -> Data
  {
    var graph = Onnx_GraphProto()
    var input = Onnx_ValueInfoProto()
    input.name = "v0"
    input.type.tensorType.shape.dim = dims.map { size in
      var dimension = Onnx_TensorShapeProto.Dimension()
      dimension.dimValue = size
      return dimension
    }
    graph.input = [input]
    graph.node = nodes.enumerated().map { index, spec in
      var node = Onnx_NodeProto()
      (node.name, node.opType) = ("n\(index)", spec.0)
      (node.input, node.output) = (["v\(index)"], ["v\(index + 1)"])
      node.attribute = spec.1.map { name, values in
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        if values.count == 1 { attribute.i = values[0] } else { attribute.ints = values }
        return attribute
      }
      return node
    }
    graph.output = [valueInfo("v\(nodes.count)")]
    var model = Onnx_ModelProto()
    model.graph = graph
    if let opset { model.opsetImport = [Self.opset(opset)] }
    return try model.serializedData()
  }

  static func valueInfo(_ name: String) -> Onnx_ValueInfoProto {
    var info = Onnx_ValueInfoProto()
    info.name = name
    return info
  }

  /// The declared output decides the network: nodes after it, or beside it, are left out
  /// with a note; several outputs, a tensor made twice, a name defined twice and weights in an
  /// external file are refused by name; a graph over the layer limit is refused before it is
  /// walked.
  @Test func theDeclaredOutputDecidesTheNetwork() throws {
    let nodes: [(String, [String: [Int64]])] = [("Relu", [:]), ("Sigmoid", [:]), ("Relu", [:])]
    var model = try Onnx_ModelProto(
      serializedBytes: try Self.chain([1, 3, 4, 4], nodes, opset: 13))
    model.graph.output = [Self.valueInfo("v1")]
    let early = try ONNXImport(try model.serializedData(), name: "m")
    #expect(early.yaml.contains("name: n0") && !early.yaml.contains("n1"), "\(early.yaml)")
    #expect(
      early.notes == [
        "2 nodes the output 'v1' does not depend on left out: 'n1' (Sigmoid), 'n2' (Relu)"
      ])

    func refusal(_ change: (inout Onnx_ModelProto) -> Void) throws -> String? {
      var changed = try Onnx_ModelProto(
        serializedBytes: try Self.chain([1, 3, 4, 4], nodes, opset: 13))
      change(&changed)
      let data = try changed.serializedData()
      return #expect(throws: ONNXError.self) { _ = try ONNXImport(data, name: "m") }?.message
    }
    #expect(
      try refusal { $0.graph.output.append(Self.valueInfo("v2")) }
        == "the graph declares 2 outputs ('v3', 'v2'); a cnnc network has one")
    #expect(
      try refusal { $0.graph.output = [] } == "the graph declares 0 outputs; a cnnc network has one"
    )
    #expect(
      try refusal { $0.graph.output = [Self.valueInfo("nowhere")] }
        == "the graph's output 'nowhere' is made by no node")
    #expect(
      try refusal { $0.graph.node[2].output = ["v2"] }
        == "node 'n2' (Relu): its output 'v2' is already defined by an earlier node or input")
    #expect(
      try refusal { $0.graph.output = [Self.valueInfo("v0")] }
        == "the graph's output 'v0' is its input: there is no layer")
    #expect(
      try refusal {
        $0.graph.node[1].output.append("mask")
        $0.graph.output = [Self.valueInfo("mask")]
      } == "the graph's output 'mask' is not a node's first output; cnnc layers have one output")
    var weight = Onnx_TensorProto()
    weight.name = "w"
    weight.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
    weight.dims = [3]
    weight.floatData = [1, 2, 3]
    #expect(
      try refusal { $0.graph.initializer = [weight, weight] } == "initializer 'w' is defined twice")
    var external = weight
    external.floatData = []
    external.dataLocation = .external
    var location = Onnx_StringStringEntryProto()
    (location.key, location.value) = ("location", "../../etc/passwd")
    external.externalData = [location]
    #expect(
      try refusal { $0.graph.initializer = [external] }?.hasPrefix(
        "initializer 'w' keeps its values in an external file ('../../etc/passwd')") == true)
    let many = try Self.chain(
      [1, 3, 4, 4], Array(repeating: ("Relu", [:]), count: Limits.maximumLayerCount + 1),
      opset: 13)
    let tooMany = #expect(throws: ONNXError.self) { _ = try ONNXImport(many, name: "m") }
    #expect(
      tooMany?.message == "the graph has 10001 nodes; a cnnc network has at most 10000 layers")
  }

  /// Naming and walking stay linear: 10,000 nodes all named "same" import as "same",
  /// "same_2", … "same_10000" (the suffix search started at 2 for each node once: quadratic).
  @Test func tenThousandNodesOfOneNameImport() throws {
    var model = try Onnx_ModelProto(
      serializedBytes: try Self.chain(
        [1, 3, 4, 4], Array(repeating: ("Relu", [:]), count: Limits.maximumLayerCount),
        opset: 13))
    // One copy of the node list (each `model.graph.node[i]` write copies the graph's storage).
    var nodes = model.graph.node
    for index in nodes.indices { nodes[index].name = "same" }
    model.graph.node = nodes
    let imported = try ONNXImport(try model.serializedData(), name: "m")
    let names = imported.yaml.split(separator: "\n").filter { $0.contains("type: relu") }
    #expect(names.count == Limits.maximumLayerCount)
    #expect(imported.yaml.contains("name: same_10000}"))
    #expect(Set(names).count == names.count)
  }

  /// The import checks its own spec (not the command that writes it): one `cnnc check`
  /// refuses is an error listing the check's findings by line.
  @Test func anImportThatDoesNotCheckIsAnError() throws {
    let window = try ONNXImport(
      try Self.chain([1, 3, 4, 4], [("MaxPool", ["kernel_shape": [9, 9]])], opset: 13), name: "m")
    let error = #expect(throws: ONNXError.self) { _ = try window.checkedNetwork() }
    #expect(
      error?.message.hasPrefix("the imported spec does not pass cnnc check:\n  line ") == true,
      "\(error?.message ?? "")")
    let fine = try ONNXImport(try Self.chain([1, 3, 4, 4], [("Relu", [:])], opset: 13), name: "m")
    #expect(try fine.checkedNetwork().layers.count == 1)
  }

  /// Softmax by the model's opset: from 13 one axis (default −1, a 4-D tensor's width), before
  /// 13 every dimension from the axis on; cnnc's is over the channels, and anything else is
  /// refused by name, not imported as a softmax over channels.
  @Test func softmaxIsReadByTheOpset() throws {
    func importing(_ dims: [Int64], _ nodes: [(String, [String: [Int64]])], _ opset: Int64?)
      throws -> String
    {
      try ONNXImport(try Self.chain(dims, nodes, opset: opset), name: "m").yaml
    }
    let overChannels = "it is a softmax over"
    for (opset, attributes) in [(13, [:]), (13, ["axis": [3]]), (11, [:]), (11, ["axis": [1]])]
      as [(Int64, [String: [Int64]])]
    {
      let error = #expect(throws: ONNXError.self, "opset \(opset) \(attributes)") {
        _ = try importing([1, 3, 4, 4], [("Softmax", attributes)], opset)
      }
      #expect(error?.message.contains(overChannels) == true, "\(error?.message ?? "")")
    }
    // Over the channels: axis 1 (or −3) of a 4-D tensor from opset 13; a 2-D tensor's features
    // at any opset; a 1×1 plane after global pooling, or a flatten's output, before 13.
    #expect(try importing([1, 3, 4, 4], [("Softmax", ["axis": [1]])], 13).contains("softmax"))
    #expect(try importing([1, 3, 4, 4], [("Softmax", ["axis": [-3]])], 18).contains("softmax"))
    #expect(try importing([1, 5], [("Softmax", [:])], 13).contains("softmax"))
    #expect(try importing([1, 5], [("Softmax", [:])], 11).contains("softmax"))
    #expect(
      try importing([1, 3, 4, 4], [("GlobalAveragePool", [:]), ("Softmax", [:])], 11)
        .contains("softmax"))
    // A Flatten's output is 2-D: its features are the channels of cnnc's flatten.
    #expect(
      try importing([1, 3, 4, 4], [("Flatten", [:]), ("Softmax", [:])], 11).contains("softmax"))
    #expect(throws: ONNXError.self) {
      _ = try importing([1, 3, 4, 4], [("GlobalAveragePool", [:]), ("Softmax", [:])], 13)
    }
  }

  /// The opset is read: none, or one newer than cnnc knows, is refused.
  @Test func opsetsOutsideTheRangeAreRefused() throws {
    for opset in [nil, 6, 23, 1 << 62] as [Int64?] {
      let error = #expect(throws: ONNXError.self) {
        _ = try ONNXImport(try Self.chain([1, 3, 4, 4], [("Relu", [:])], opset: opset), name: "m")
      }
      #expect(error?.message.contains("cnnc reads opsets 7 to 22") == true)
    }
    #expect(throws: Never.self) {
      _ = try ONNXImport(try Self.chain([1, 3, 4, 4], [("Relu", [:])], opset: 22), name: "m")
    }
  }

  /// An initializer's dims are checked before any arithmetic, and raw_data must be exactly
  /// their size.
  @Test func initializerSizesAreChecked() throws {
    func conv(dims: [Int64], rawBytes: Int) throws -> ONNXError? {
      var model = try Onnx_ModelProto(
        serializedBytes: try Self.chain([1, 1, 4, 4], [("Conv", [:])], opset: 13))
      var weight = Onnx_TensorProto()
      weight.name = "w"
      weight.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
      weight.dims = dims
      weight.rawData = Data(repeating: 0, count: rawBytes)
      model.graph.initializer = [weight]
      model.graph.node[0].input.append("w")
      return #expect(throws: ONNXError.self) {
        _ = try ONNXImport(try model.serializedData(), name: "m")
      }
    }
    #expect(
      try conv(dims: [2, 1, 3, 3], rawBytes: 72 + 4)?.message.contains("raw_data holds 76 bytes")
        == true)
    #expect(
      try conv(dims: [2, 1, 3, 3], rawBytes: 72 + 2)?.message.contains("raw_data holds 74 bytes")
        == true)
    #expect(
      try conv(dims: [-2, 1, 3, 3], rawBytes: 8)?.message.contains("negative or too large") == true)
    #expect(
      try conv(dims: [1 << 32, 1 << 32, 3, 3], rawBytes: 8)?.message.contains(
        "negative or too large") == true)
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
