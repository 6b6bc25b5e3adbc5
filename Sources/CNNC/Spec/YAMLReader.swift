import CYAML

/// Reads YAML text into a `YAMLNode` tree through libyaml's event API.
///
/// libyaml's own loader (`yaml_parser_load`) has no nesting limit and grows with the square of
/// the depth, so the tree is built here from parser events with an explicit stack, under caps on
/// depth and node count. Aliases are rejected rather than expanded: a spec never needs them, and
/// expanding them is how an alias bomb turns kilobytes into gigabytes.
struct YAMLReader {
  /// Deepest nesting accepted. A spec needs four levels; 64 leaves room for anything sane.
  static let maximumDepth = 64
  /// Most nodes accepted in one document (a spec of `Limits.maximumLayerCount` layers with many keys each fits, 20 times over).
  static let maximumNodeCount = 2_000_000

  struct Failure: Error, Sendable {
    public var message: String
    public var location: SourceLocation
  }

  /// What `read` found: the document's tree (nil for a stream with no document at all) and
  /// the problems that did not stop the reading (a duplicate key: its first value is kept).
  struct Document: Sendable {
    public var root: YAMLNode?
    public var problems: [Failure]
  }

  /// Parses `text`, which must hold at most one document: a second one, or a syntax error
  /// anywhere in the stream, is a failure.
  func read(_ text: [UInt8]) throws(Failure) -> Document {
    var parser = yaml_parser_t()
    guard yaml_parser_initialize(&parser) != 0 else {
      throw Failure(message: "libyaml could not start", location: .init(line: 1, column: 1))
    }
    defer { yaml_parser_delete(&parser) }
    return try text.withUnsafeBufferPointer { bytes throws(Failure) -> Document in
      yaml_parser_set_input_string(&parser, bytes.baseAddress, bytes.count)
      var builder = TreeBuilder()
      var documents = 0
      while true {
        var event = yaml_event_t()
        guard yaml_parser_parse(&parser, &event) != 0 else {
          throw Self.syntaxFailure(parser, bytes)
        }
        defer { yaml_event_delete(&event) }
        if event.type == YAML_STREAM_END_EVENT {
          return Document(root: builder.root, problems: builder.problems)
        }
        if event.type == YAML_DOCUMENT_START_EVENT {
          documents += 1
          guard documents == 1 else {
            throw Failure(
              message: "a spec is one YAML document, but a second one starts here",
              location: .init(
                line: event.start_mark.line + 1, column: event.start_mark.column + 1))
          }
        }
        try builder.consume(event)
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
  /// Problems that do not stop the reading, in the order met.
  private(set) var problems: [YAMLReader.Failure] = []

  /// Takes one event of the document.
  mutating func consume(_ event: yaml_event_t) throws(YAMLReader.Failure) {
    let location = SourceLocation(
      line: event.start_mark.line + 1, column: event.start_mark.column + 1)
    switch event.type {
    case YAML_ALIAS_EVENT:
      throw .init(
        message: "YAML aliases (*name) are not supported in a spec; write the value out",
        location: location)
    case YAML_SCALAR_EVENT:
      let scalar = event.data.scalar
      if let tag = scalar.tag {
        problems.append(
          .init(
            message: "YAML tag '\(String(cString: tag))' is not supported in a spec; "
              + "write the value without it",
            location: location))
      }
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
      guard let top = stack.popLast() else { return }
      let content: YAMLNode.Content = top.isMapping ? .mapping(top.pairs) : .sequence(top.items)
      try add(.init(content: content, location: top.location))
    default:
      break  // stream and document boundaries carry nothing a spec needs
    }
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
      stack[top].pendingKey = nil
      // A repeated key is reported and its later value dropped, so that every other problem
      // in the file is still found.
      if let keyText = key.scalarText, !stack[top].keys.insert(keyText).inserted {
        problems.append(
          .init(
            message: "duplicate key '\(keyText)' (its first value is the one read)",
            location: key.location))
        return
      }
      stack[top].pairs.append((key, node))
    } else {
      stack[top].pendingKey = node
    }
  }
}
