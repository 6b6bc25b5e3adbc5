/// Reads a spec's YAML tree into a `NetworkSpec`, reporting every problem it finds.
public enum SpecParser {
  static let topLevelKeys = ["name", "input", "layers", "train"]
  /// Layers beyond `Limits.maximumLayerCount` are refused here, where they are read.
  static let maximumLayerCount = Limits.maximumLayerCount

  /// Spec files beyond this are refused before they are parsed (a 10,000-layer spec is about
  /// 400 KiB; comments and long names may take the rest).
  public static let maximumFileBytes = 64 << 20

  /// Parses `bytes`; the spec is nil only when the file is not a usable spec at all.
  public static func parse(_ bytes: [UInt8], defaultName: String) -> (NetworkSpec?, DiagnosticList)
  {
    var diagnostics = DiagnosticList()
    let start = SourceLocation(line: 1, column: 1)
    guard bytes.count <= maximumFileBytes else {
      diagnostics.error(
        "the spec is \(bytes.count) bytes, more than the \(maximumFileBytes >> 20) MiB a spec may be",
        at: start)
      return (nil, diagnostics)
    }
    let root: YAMLNode
    do {
      let document = try YAMLReader().read(bytes)
      for problem in document.problems { diagnostics.error(problem.message, at: problem.location) }
      guard let node = document.root else {
        diagnostics.error("the spec is empty: it needs 'input' and 'layers'", at: start)
        return (nil, diagnostics)
      }
      root = node
    } catch {
      diagnostics.error(error.message, at: error.location)
      return (nil, diagnostics)
    }
    guard case .mapping = root.content else {
      diagnostics.error(
        "a spec must be a mapping with 'input' and 'layers', found \(root.kindDescription)",
        at: root.location)
      return (nil, diagnostics)
    }

    var top = KeyReader(node: root, subject: "spec")
    top.rejectUnknownKeys(keys: topLevelKeys)
    let name = top.name("name") ?? defaultName
    let input = readInput(root, &top)
    diagnostics.append(contentsOf: top.diagnostics)

    guard let layersNode = root["layers"] else {
      diagnostics.error("spec: missing required key 'layers'", at: root.location)
      return (nil, diagnostics)
    }
    guard case .sequence(let items) = layersNode.content else {
      diagnostics.error(
        "spec: 'layers' must be a list of layers, found \(layersNode.kindDescription)",
        at: layersNode.location)
      return (nil, diagnostics)
    }
    guard !items.isEmpty else {
      diagnostics.error(
        "spec: 'layers' is empty; a network needs at least one layer",
        at: layersNode.location)
      return (nil, diagnostics)
    }
    guard items.count <= maximumLayerCount else {
      diagnostics.error(
        "spec: \(items.count) layers is more than cnnc accepts (\(maximumLayerCount))",
        at: layersNode.location)
      return (nil, diagnostics)
    }

    var layers: [LayerSpec] = []
    layers.reserveCapacity(items.count)
    var countByType: [String: Int] = [:]
    for item in items {
      let previous = layers.last?.name ?? "input"
      if let layer = readLayer(item, previous: previous, countByType: &countByType, &diagnostics) {
        layers.append(layer)
      }
    }
    let train = root["train"].flatMap { TrainSpec.read($0, &diagnostics) }
    guard let input else { return (nil, diagnostics) }
    var spec = NetworkSpec(name: name, input: input, layers: layers, train: train)
    spec.inputLocation = root["input"]?.location ?? start
    return (spec, diagnostics)
  }

  /// `input: {channels, height, width}` or `input: [c, h, w]`.
  private static func readInput(_ root: YAMLNode, _ top: inout KeyReader) -> Shape? {
    guard let node = root["input"] else {
      top.diagnostics.error("spec: missing required key 'input'", at: root.location)
      return nil
    }
    var reader = KeyReader(node: node, subject: "input")
    let sizes = 1...Limits.maximumSize
    var shape: Shape?
    switch node.content {
    case .mapping:
      reader.rejectUnknownKeys(keys: ["channels", "height", "width"])
      shape = Shape(
        channels: reader.integer("channels", in: sizes),
        height: reader.integer("height", in: sizes),
        width: reader.integer("width", in: sizes))
    case .sequence(let items) where items.count == 3:
      let values = items.enumerated().map { index, item in
        reader.integer(item, named: ["channels", "height", "width"][index], in: sizes)
      }
      if let c = values[0], let h = values[1], let w = values[2] {
        shape = Shape(channels: c, height: h, width: w)
      }
    default:
      reader.diagnostics.error(
        "input: must be {channels, height, width} or [channels, height, width], "
          + "found \(node.kindDescription)",
        at: node.location)
    }
    top.diagnostics.append(contentsOf: reader.diagnostics)
    return reader.diagnostics.hasErrors ? nil : shape
  }

  /// One layer entry; nil when it is not even a mapping with a type.
  private static func readLayer(
    _ item: YAMLNode, previous: String, countByType: inout [String: Int],
    _ diagnostics: inout DiagnosticList
  ) -> LayerSpec? {
    guard case .mapping = item.content else {
      diagnostics.error(
        "a layer must be a mapping such as {type: relu}, found \(item.kindDescription)",
        at: item.location)
      return nil
    }
    guard let typeNode = item["type"], let typeName = typeNode.scalarText, !typeName.isEmpty else {
      let found = item["type"].map { ", found \($0.kindDescription)" } ?? ""
      diagnostics.error(
        "layer: missing its 'type' (a word such as conv or relu)\(found)",
        at: item["type"]?.location ?? item.location)
      return nil
    }
    countByType[typeName, default: 0] += 1
    var reader = KeyReader(node: item, subject: "layer")
    let name = reader.name("name") ?? "\(typeName)\(countByType[typeName] ?? 1)"
    let inputNames = readInputNames(item, previous: previous, &reader)

    var spec = LayerSpec(
      name: name, typeName: typeName, inputNames: inputNames, location: item.location,
      inputLocation: item["input"]?.location ?? item.location, layer: nil)
    guard let type = LayerRegistry.type(named: typeName) else {
      let known = LayerRegistry.types.map(\.name)
      diagnostics.append(contentsOf: reader.diagnostics)
      diagnostics.error(
        "unknown layer type '\(typeName)'" + didYouMean(typeName, among: known)
          + (closestMatch(to: typeName, among: known) == nil
            ? " (known types: \(known.joined(separator: ", ")))" : ""),
        at: typeNode.location)
      return spec
    }
    var keys = KeyReader(node: item, subject: spec.subject)
    keys.rejectUnknownKeys(keys: ["type", "name", "input"] + type.keys)
    let layer = type.read(&keys)
    checkArity(type, &spec, &keys)
    keys.diagnostics.append(contentsOf: reader.diagnostics)
    if !keys.diagnostics.hasErrors { spec.layer = layer }
    diagnostics.append(contentsOf: keys.diagnostics)
    return spec
  }

  /// `input:` as a single name or a list of names; the previous layer when absent.
  private static func readInputNames(_ item: YAMLNode, previous: String, _ reader: inout KeyReader)
    -> [String]
  {
    guard let node = item["input"] else { return [previous] }
    let items: [YAMLNode]
    if case .sequence(let list) = node.content { items = list } else { items = [node] }
    var names: [String] = []
    for entry in items {
      guard case .scalar(let text, _) = entry.content, !text.isEmpty else {
        reader.diagnostics.error(
          "layer: 'input' must name a layer or 'input', found \(entry.kindDescription)",
          at: entry.location)
        continue
      }
      names.append(text)
    }
    return names
  }

  private static func checkArity(
    _ type: LayerType, _ spec: inout LayerSpec, _ keys: inout KeyReader
  ) {
    switch type.arity {
    case .one where spec.inputNames.count != 1:
      keys.report("takes exactly one input, given \(spec.inputNames.count)", at: "input")
    case .twoOrMore where spec.inputNames.count < 2:
      keys.report(
        "needs 'input:' listing two or more earlier layers, given \(spec.inputNames.count)",
        at: "input")
    default:
      break
    }
  }
}
