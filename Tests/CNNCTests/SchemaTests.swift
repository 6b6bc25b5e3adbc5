import Foundation
import Testing

@testable import CNNC

/// docs/cnnc.schema.json (for editors) names exactly the layer types and keys cnnc reads: a new
/// layer type or key without its schema entry fails here. `scripts/schema-check.py` validates the
/// shipped specs and the documentation's examples against it.
@Suite struct SchemaTests {
  typealias Object = [String: Any]

  static func schema() throws -> Object {
    let data = try Data(contentsOf: packageRoot.appendingPathComponent("docs/cnnc.schema.json"))
    return try #require(try JSONSerialization.jsonObject(with: data) as? Object)
  }

  static func object(_ value: Any?, _ path: String...) -> Object? {
    var current = value
    for key in path { current = (current as? Object)?[key] }
    return current as? Object
  }

  static func keys(_ value: Object?) -> Set<String> { Set((value ?? [:]).keys) }

  @Test func layerTypesAndTheirKeysAreCnncs() throws {
    let schema = try Self.schema()
    let layer = Self.object(schema, "definitions", "layer")
    let names = try #require(Self.object(layer, "properties", "type")?["enum"] as? [String])
    #expect(Set(names) == Set(LayerRegistry.types.map(\.name)))
    let cases = try #require(layer?["allOf"] as? [Object])
    #expect(cases.count == LayerRegistry.types.count)
    for type in LayerRegistry.types {
      let entry = cases.first {
        Self.object($0, "if", "properties", "type")?["const"] as? String == type.name
      }
      let properties = Self.keys(Self.object(entry, "then", "properties"))
      #expect(properties == Set(type.keys + ["type", "name", "input"]), "\(type.name)")
      #expect(Self.object(entry, "then")?["additionalProperties"] as? Bool == false, "\(type.name)")
    }
  }

  @Test func specTrainAndDataKeysAreCnncs() throws {
    let schema = try Self.schema()
    #expect(Self.keys(Self.object(schema, "properties")) == Set(SpecParser.topLevelKeys))
    let train = Self.object(schema, "definitions", "train", "properties")
    #expect(Self.keys(train) == Set(TrainSpec.keys))
    let data = Self.object(schema, "definitions", "data", "properties")
    #expect(
      Self.keys(data)
        == Set(DataSource.commonKeys + DataSource.formatKeys.values.joined() + ["format"]))
    #expect(
      Self.object(data, "format")?["enum"] as? [String]
        == DataSource.Format.allCases.map(\.rawValue))
    #expect(
      Self.object(train, "weight_init")?["enum"] as? [String]
        == WeightInit.allCases.map(\.rawValue))
    #expect(
      Self.object(train, "lowering")?["enum"] as? [String]
        == ConvolutionLowering.allCases.map(\.rawValue))
  }
}
