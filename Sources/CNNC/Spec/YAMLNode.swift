/// One node of a YAML document, with the place it starts in the source.
struct YAMLNode: Sendable {
  enum Content: Sendable {
    /// A scalar's text; `plain` is false for quoted and block scalars, which are always strings.
    case scalar(String, plain: Bool)
    case mapping([(key: YAMLNode, value: YAMLNode)])
    case sequence([YAMLNode])
  }

  var content: Content
  var location: SourceLocation

  /// What a diagnostic calls this kind of node ("a string", "a mapping").
  var kindDescription: String {
    switch content {
    case .mapping: return "a mapping"
    case .sequence: return "a list"
    case .scalar(let text, let plain):
      guard plain else { return "a string" }
      if text.isEmpty || text == "~" || text == "null" { return "nothing (null)" }
      if [".nan", ".NaN", ".NAN"].contains(text) { return "not-a-number" }
      if [".inf", ".Inf", ".INF"].contains(text.trimmingPrefix(while: { $0 == "+" || $0 == "-" })) {
        return "infinity"
      }
      if Int64(text) != nil { return "an integer" }
      // Swift reads "nan", "inf" and "1e999" as Doubles too: call them what they are.
      if let number = Double(text) {
        return number.isNaN ? "not-a-number" : number.isInfinite ? "infinity" : "a number"
      }
      if ["true", "false"].contains(text) { return "a boolean" }
      return "a string"
    }
  }

  /// The value under `key`, when this is a mapping that has it.
  subscript(key: String) -> YAMLNode? {
    guard case .mapping(let pairs) = content else { return nil }
    return pairs.first { $0.key.scalarText == key }?.value
  }

  var scalarText: String? {
    if case .scalar(let text, _) = content { return text }
    return nil
  }
}
