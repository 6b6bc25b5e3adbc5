import CYAML

/// Reads YAML text into a `YAMLNode` tree through libyaml's event API.
///
/// libyaml's own loader (`yaml_parser_load`) has no nesting limit and grows with the square of
/// the depth, so the tree is built here from parser events with an explicit stack, under caps on
/// depth and node count. Aliases are rejected rather than expanded: a spec never needs them, and
/// expanding them is how an alias bomb turns kilobytes into gigabytes.
public struct YAMLReader {
  /// Deepest nesting accepted. A spec needs four levels; 64 leaves room for anything sane.
  public static let maximumDepth = 64
  /// Most nodes accepted in one document (a 200,000-layer stack of small layers fits).
  public static let maximumNodeCount = 2_000_000

  public struct Failure: Error, Sendable {
    public var message: String
    public var location: SourceLocation
  }

  public init() {}

  /// Parses the first document of `text`; `nil` for a stream with no document at all.
  public func read(_ text: [UInt8]) throws(Failure) -> YAMLNode? {
    var parser = yaml_parser_t()
    guard yaml_parser_initialize(&parser) != 0 else {
      throw Failure(message: "libyaml could not start", location: .init(line: 1, column: 1))
    }
    defer { yaml_parser_delete(&parser) }
    return try text.withUnsafeBufferPointer { bytes throws(Failure) -> YAMLNode? in
      yaml_parser_set_input_string(&parser, bytes.baseAddress, bytes.count)
      var builder = TreeBuilder()
      while true {
        var event = yaml_event_t()
        guard yaml_parser_parse(&parser, &event) != 0 else {
          throw Self.syntaxFailure(parser, bytes)
        }
        defer { yaml_event_delete(&event) }
        if try builder.consume(event) { return builder.root }
      }
    }
  }

  private static func syntaxFailure(_ parser: yaml_parser_t, _ bytes: UnsafeBufferPointer<UInt8>)
    -> Failure
  {
    var message = parser.problem.map { String(cString: $0) } ?? "invalid YAML"
    if let context = parser.context {
      message += " " + String(cString: context)
    }
    // Reader errors (bad UTF-8, control characters) carry a byte offset, not a mark.
    guard parser.error == YAML_READER_ERROR else {
      let mark = parser.problem_mark
      return Failure(
        message: "YAML syntax: " + message,
        location: .init(line: mark.line + 1, column: mark.column + 1))
    }
    let offset = min(parser.problem_offset, bytes.count)
    let before = bytes[..<offset]
    let line = before.count { $0 == UInt8(ascii: "\n") } + 1
    let lineStart = before.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
    return Failure(
      message: "YAML syntax: " + message,
      location: .init(line: line, column: offset - lineStart + 1))
  }
}

/// Turns a stream of libyaml events into a tree, one open collection per stack entry.
private struct TreeBuilder {
  /// A mapping or sequence still being read. Mutated in place on the stack, so appending stays
  /// O(1) however long the collection grows.
  private struct Open {
    var isMapping: Bool
    var location: SourceLocation
    var items: [YAMLNode] = []
    var pairs: [(key: YAMLNode, value: YAMLNode)] = []
    var keys: Set<String> = []
    var pendingKey: YAMLNode?
  }

  private var stack: [Open] = []
  private var nodeCount = 0
  private(set) var root: YAMLNode?

  /// Takes one event; returns true when the first document is complete (or the stream ended).
  mutating func consume(_ event: yaml_event_t) throws(YAMLReader.Failure) -> Bool {
    let location = SourceLocation(
      line: event.start_mark.line + 1, column: event.start_mark.column + 1)
    switch event.type {
    case YAML_STREAM_END_EVENT, YAML_DOCUMENT_END_EVENT:
      return true
    case YAML_ALIAS_EVENT:
      throw .init(
        message: "YAML aliases (*name) are not supported in a spec; write the value out",
        location: location)
    case YAML_SCALAR_EVENT:
      let scalar = event.data.scalar
      let text =
        scalar.value.map { pointer in
          String(decoding: UnsafeBufferPointer(start: pointer, count: scalar.length), as: UTF8.self)
        } ?? ""
      try count(at: location)
      try add(.init(content: .scalar(text, plain: scalar.plain_implicit != 0), location: location))
    case YAML_MAPPING_START_EVENT, YAML_SEQUENCE_START_EVENT:
      guard stack.count < YAMLReader.maximumDepth else {
        throw .init(
          message: "YAML nested deeper than \(YAMLReader.maximumDepth) levels", location: location)
      }
      try count(at: location)
      stack.append(Open(isMapping: event.type == YAML_MAPPING_START_EVENT, location: location))
    case YAML_MAPPING_END_EVENT, YAML_SEQUENCE_END_EVENT:
      guard let top = stack.popLast() else { return false }
      let content: YAMLNode.Content = top.isMapping ? .mapping(top.pairs) : .sequence(top.items)
      try add(.init(content: content, location: top.location))
    default:
      break  // stream and document starts carry nothing a spec needs
    }
    return false
  }

  private mutating func count(at location: SourceLocation) throws(YAMLReader.Failure) {
    nodeCount += 1
    guard nodeCount <= YAMLReader.maximumNodeCount else {
      throw .init(
        message: "YAML has more than \(YAMLReader.maximumNodeCount) nodes", location: location)
    }
  }

  private mutating func add(_ node: YAMLNode) throws(YAMLReader.Failure) {
    let top = stack.count - 1
    guard top >= 0 else {
      root = node
      return
    }
    if !stack[top].isMapping {
      stack[top].items.append(node)
    } else if let key = stack[top].pendingKey {
      if let keyText = key.scalarText, !stack[top].keys.insert(keyText).inserted {
        throw .init(message: "duplicate key '\(keyText)'", location: key.location)
      }
      stack[top].pairs.append((key, node))
      stack[top].pendingKey = nil
    } else {
      stack[top].pendingKey = node
    }
  }
}
