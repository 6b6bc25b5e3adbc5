import Foundation
import SwiftProtobuf
import Testing

@testable import CNNC
@testable import CNNCONNX

/// What a layer type needs besides its own file, for every type in `LayerRegistry.types`: a row
/// in the gradient-check table, an example in a shipped spec (or scripts/onnx/every-layer.yaml),
/// and an ONNX mapping that exports the example and imports it back as the same type.
@Suite struct LayerRegistryTests {
  static let examples =
    ["lenet.yaml", "allconv-bn.yaml", "mobilenet-mnist.yaml", "inception.yaml", "residual.yaml"]
    .map(modelPath) + [packageRoot.appendingPathComponent("scripts/onnx/every-layer.yaml").path]

  @Test func eachONNXOperatorImportsAsOneLayerType() {
    let operators = LayerRegistry.types.flatMap(\.onnx.operators)
    #expect(Set(operators).count == operators.count, "an operator claimed twice: \(operators)")
  }

  @Test(arguments: LayerRegistry.types.map(\.name))
  func everyLayerTypeIsCheckedExportedAndImportedBack(_ typeName: String) throws {
    let type = try #require(LayerRegistry.type(named: typeName))
    #expect(
      GradientCheckTests.cases.contains { $0.types.contains(typeName) },
      "no row in GradientCheckTests.cases checks '\(typeName)'")
    for path in Self.examples {
      let network = try InferredNetwork(
        yaml: try String(contentsOfFile: path, encoding: .utf8), name: "m")
      guard let layer = network.layers.first(where: { $0.typeName == typeName }) else { continue }
      let layout = try network.parameterLayout()
      let weights = [Float](repeating: 0.25, count: layout.floats)
      let data = try ONNXExport.model(network, parameters: layout.slots, weights: weights)
      let model = try Onnx_ModelProto(serializedBytes: data)
      let node = try #require(model.graph.node.first { $0.name == layer.name })
      let again = try InferredNetwork(yaml: try ONNXImport(data, name: "again").yaml)
      let back = again.layers.first { $0.name == layer.name }
      if type.onnx.operators.contains(node.opType) {
        #expect(back?.typeName == typeName, "\(path): '\(layer.name)' came back as \(back as Any)")
      } else {
        // Only an identity at inference (dropout) exports as another operator, and the import
        // leaves it out.
        #expect(node.opType == "Identity" && back == nil, "\(path): exported as \(node.opType)")
      }
      return
    }
    Issue.record("no shipped spec or scripts/onnx/every-layer.yaml has a '\(typeName)' layer")
  }
}
