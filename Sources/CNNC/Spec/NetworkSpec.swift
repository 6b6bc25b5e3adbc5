/// A network as its spec file describes it, before shape inference.
public struct NetworkSpec: Sendable {
  public var name: String
  public var input: Shape
  /// Where `input:` is written, for messages about data that does not fit it.
  public var inputLocation = SourceLocation(line: 1, column: 1)
  public var layers: [LayerSpec]
  /// The `train:` section, when the spec has one.
  public var train: TrainSpec?
}

/// One entry of `layers:`.
public struct LayerSpec: Sendable {
  public var name: String
  /// The type word, e.g. "conv".
  public var typeName: String
  /// The names this layer reads: "input", or earlier layers.
  public var inputNames: [String]
  public var location: SourceLocation
  /// Where `input:` is written, or the layer itself when it reads the previous layer.
  public var inputLocation: SourceLocation
  /// Nil when the type is unknown or its keys had errors (already reported).
  public var layer: (any Layer)?

  /// How diagnostics name the layer: "conv 'c3'".
  public var subject: String { "\(typeName) '\(name)'" }
}
