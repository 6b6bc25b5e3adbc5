/// Reads the typed values of one mapping (a layer, the input, the train section), reporting
/// missing and ill-typed keys at their place in the file.
///
/// A value that cannot be read yields a harmless stand-in (1, false, the default) together with
/// an error, so that checking carries on and every problem in the file is reported at once.
struct KeyReader {
  static let maximumSize = Limits.maximumSize

  let node: YAMLNode
  /// How diagnostics name what is being read, e.g. "conv 'conv1'".
  let subject: String
  var diagnostics = DiagnosticList()

  init(node: YAMLNode, subject: String) {
    self.node = node
    self.subject = subject
  }

  func has(_ key: String) -> Bool { node[key] != nil }

  private mutating func error(_ message: String, at location: SourceLocation) {
    diagnostics.error("\(subject): \(message)", at: location)
  }

  private mutating func missing(_ key: String) {
    error("missing required key '\(key)'", at: node.location)
  }

  /// An integer in `range`; `nil` default means the key is required.
  mutating func integer(
    _ key: String, default fallback: Int? = nil, in range: ClosedRange<Int>
  ) -> Int {
    guard let value = node[key] else {
      if fallback == nil { missing(key) }
      return fallback ?? max(1, range.lowerBound)
    }
    return integer(value, named: "'\(key)'", in: range) ?? fallback ?? max(1, range.lowerBound)
  }

  mutating func positive(_ key: String, default fallback: Int? = nil) -> Int {
    integer(key, default: fallback, in: 1...Self.maximumSize)
  }

  /// Reads one integer node, naming it `what` in any error.
  mutating func integer(_ value: YAMLNode, named what: String, in range: ClosedRange<Int>)
    -> Int?
  {
    let expected = range.lowerBound >= 1 ? "a positive integer" : "a non-negative integer"
    guard case .scalar(let text, plain: true) = value.content,
      text.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "-" || $0 == "+") }), !text.isEmpty
    else {
      error(
        "\(what) must be \(expected), found \(value.kindDescription)\(shown(value))",
        at: value.location)
      return nil
    }
    guard let number = Int(text), number <= Self.maximumSize else {
      let isNegative = text.hasPrefix("-")
      error(
        isNegative
          ? "\(what) must be \(expected), found \(text)"
          : "\(what) is \(text), more than the largest size cnnc accepts (\(Self.maximumSize))",
        at: value.location)
      return nil
    }
    guard range.contains(number) else {
      error("\(what) must be \(expected), found \(number)", at: value.location)
      return nil
    }
    return number
  }

  /// An integer or a `[height, width]` pair, e.g. `kernel: 5` or `kernel: [3, 5]`.
  mutating func pair(
    _ key: String, default fallback: Pair? = nil, in range: ClosedRange<Int>
  )
    -> Pair
  {
    let standIn = fallback ?? Pair(max(1, range.lowerBound))
    guard let value = node[key] else {
      if fallback == nil { missing(key) }
      return standIn
    }
    if case .sequence(let items) = value.content {
      guard items.count == 2 else {
        error(
          "'\(key)' must be an integer or a list [height, width], found a list of \(items.count)",
          at: value.location)
        return standIn
      }
      let height = integer(items[0], named: "'\(key)' height", in: range)
      let width = integer(items[1], named: "'\(key)' width", in: range)
      return Pair(height: height ?? standIn.height, width: width ?? standIn.width)
    }
    return integer(value, named: "'\(key)'", in: range).map { Pair($0) } ?? standIn
  }

  /// Two finite numbers for which `isValid` holds, e.g. `betas: [0.9, 0.999]`.
  mutating func numberPair(
    _ key: String, default fallback: (Double, Double), requirement: String,
    isValid: (Double) -> Bool
  ) -> (Double, Double) {
    guard let value = node[key] else { return fallback }
    guard case .sequence(let items) = value.content, items.count == 2 else {
      error(
        "'\(key)' must be a list of two numbers, found \(value.kindDescription)\(shown(value))",
        at: value.location)
      return fallback
    }
    var numbers: [Double] = []
    for item in items {
      guard case .scalar(let text, plain: true) = item.content, let number = Double(text),
        number.isFinite, !text.lowercased().contains("n")
      else {
        error(
          "'\(key)' must hold numbers, found \(item.kindDescription)\(shown(item))",
          at: item.location)
        return fallback
      }
      guard isValid(number) else {
        error("'\(key)' values must be \(requirement), found \(text)", at: item.location)
        return fallback
      }
      numbers.append(number)
    }
    return (numbers[0], numbers[1])
  }

  mutating func boolean(_ key: String, default fallback: Bool) -> Bool {
    guard let value = node[key] else { return fallback }
    switch value.content {
    case .scalar("true", plain: true), .scalar("True", plain: true): return true
    case .scalar("false", plain: true), .scalar("False", plain: true): return false
    default:
      error(
        "'\(key)' must be true or false, found \(value.kindDescription)\(shown(value))",
        at: value.location)
      return fallback
    }
  }

  /// A finite number for which `isValid` holds (`requirement` says what that is).
  mutating func number(
    _ key: String, default fallback: Double? = nil, requirement: String,
    isValid: (Double) -> Bool
  ) -> Double {
    guard let value = node[key] else {
      if fallback == nil { missing(key) }
      return fallback ?? 0
    }
    guard case .scalar(let text, plain: true) = value.content, let number = Double(text),
      number.isFinite, !text.lowercased().contains("n")
    else {
      error(
        "'\(key)' must be a number, found \(value.kindDescription)\(shown(value))",
        at: value.location)
      return fallback ?? 0
    }
    guard isValid(number) else {
      error("'\(key)' must be \(requirement), found \(text)", at: value.location)
      return fallback ?? 0
    }
    return number
  }

  /// A word out of `choices`.
  mutating func choice(_ key: String, among choices: [String], default fallback: String?)
    -> String
  {
    guard let value = node[key] else {
      if fallback == nil { missing(key) }
      return fallback ?? choices[0]
    }
    guard let text = value.scalarText, choices.contains(text) else {
      let list = choices.map { "'\($0)'" }.joined(separator: " or ")
      let hint = value.scalarText.map { didYouMean($0, among: choices) } ?? ""
      error(
        "'\(key)' must be \(list), found \(value.kindDescription)\(shown(value))\(hint)",
        at: value.location)
      return fallback ?? choices[0]
    }
    return text
  }

  /// A name: a one-line string with no control characters (names end up in file and tensor
  /// names, and in messages on a terminal).
  mutating func name(_ key: String) -> String? {
    guard let value = node[key] else { return nil }
    guard case .scalar(let text, _) = value.content, !text.isEmpty else {
      error("'\(key)' must be a name, found \(value.kindDescription)", at: value.location)
      return nil
    }
    guard !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
      error(
        "'\(key)' must not contain control characters (such as NUL or a line break)",
        at: value.location)
      return nil
    }
    return text
  }

  /// Reports every key that is not in `known`, suggesting the closest known one.
  mutating func rejectUnknownKeys(keys known: [String]) {
    guard case .mapping(let pairs) = node.content else { return }
    for (key, _) in pairs {
      guard let text = key.scalarText else {
        error("keys must be plain words, found \(key.kindDescription)", at: key.location)
        continue
      }
      if !known.contains(text) {
        let list = known.map { "'\($0)'" }.joined(separator: ", ")
        let hint = didYouMean(text, among: known)
        error(
          "unknown key '\(text)'\(hint.isEmpty ? " (known keys: \(list))" : hint)",
          at: key.location)
      }
    }
  }

  private func shown(_ value: YAMLNode) -> String {
    guard let text = value.scalarText, !text.isEmpty else { return "" }
    let short = text.count > 40 ? String(text.prefix(40)) + "…" : text
    return " (\(short.debugDescription))"
  }
}

extension KeyReader {
  /// Where `key`'s value is, or the mapping itself when the key is absent.
  func location(of key: String) -> SourceLocation { node[key]?.location ?? node.location }

  /// Reports a problem that is not about one value's type, e.g. two keys that disagree.
  mutating func report(_ message: String, at key: String) {
    diagnostics.error("\(subject): \(message)", at: location(of: key))
  }
}
