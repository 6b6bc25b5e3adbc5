/// An error or warning about a spec, tied to the place in the file it is about.
public struct Diagnostic: Hashable, Sendable {
  /// Errors make `cnnc check` exit 1; warnings do not.
  public enum Severity: String, Sendable {
    case error
    case warning
  }

  public var severity: Severity
  public var location: SourceLocation
  public var message: String

  public init(_ severity: Severity, at location: SourceLocation, _ message: String) {
    self.severity = severity
    self.location = location
    self.message = message
  }

  /// The compiler form: `file:line:column: error: message`, then the source line and a caret.
  public func rendered(fileName: String, source: SourceText) -> String {
    var text = "\(fileName):\(location.line):\(location.column): \(severity.rawValue): \(message)"
    if let (line, caret) = source.excerpt(line: location.line, column: location.column) {
      text += "\n" + line + "\n" + caret + "^"
    }
    return text
  }
}

/// The lines of a spec file, for showing the line a diagnostic points at.
///
/// Kept as the file's UTF-8 bytes and the offset where each line starts (about 1.1× the
/// file), not as decoded text: a line is decoded only around a column that is shown.
public struct SourceText: Sendable {
  private let bytes: [UInt8]
  /// The byte offset of each line's first byte.
  private let lineStarts: [Int]
  /// Longer lines are shown as a window around the column.
  static let window = 100

  public init(_ bytes: [UInt8]) {
    self.bytes = bytes
    var starts = [0]
    for (offset, byte) in bytes.enumerated() where byte == UInt8(ascii: "\n") {
      starts.append(offset + 1)
    }
    lineStarts = starts
  }

  /// The part of line `number` around `column` (counted in characters, as libyaml counts), and
  /// the white space that puts a caret under it.
  public func excerpt(line number: Int, column: Int) -> (line: String, caret: String)? {
    guard number >= 1, number <= lineStarts.count else { return nil }
    let lineEnd = number < lineStarts.count ? lineStarts[number] - 1 : bytes.count
    // Walk the line's characters once, keeping only the window around the column.
    let target = max(column - 1, 0)
    let first = max(0, target - Self.window)
    var window: [Unicode.Scalar] = []
    var index = 0
    var truncatedAfter = false
    var decoder = UTF8()
    var iterator = bytes[lineStarts[number - 1]..<lineEnd].makeIterator()
    decoding: while true {
      switch decoder.decode(&iterator) {
      case .scalarValue(let scalar):
        if index >= target + Self.window {
          truncatedAfter = true
          break decoding
        }
        if index >= first { window.append(scalar) }
        index += 1
      case .error:
        if index >= first { window.append("\u{FFFD}") }
        index += 1
      case .emptyInput:
        break decoding
      }
    }
    let targetInWindow = min(target - first, window.count)
    var shown = first > 0 ? "…" : ""
    var caret = first > 0 ? " " : ""
    for (offset, scalar) in window.enumerated() where scalar != "\r" {
      // Control characters would garble a terminal; show a stand-in of the same width.
      let isControl = scalar.value < 0x20 && scalar != "\t" || scalar.value == 0x7F
      shown.unicodeScalars.append(isControl ? "\u{FFFD}" : scalar)
      // Tabs stay tabs so that the caret lines up under them.
      if offset < targetInWindow { caret += scalar == "\t" ? "\t" : " " }
    }
    if truncatedAfter { shown += "…" }
    return (shown, caret)
  }
}

/// Collects diagnostics while a spec is read and checked.
public struct DiagnosticList: Sendable {
  public private(set) var all: [Diagnostic] = []

  public init() {}

  public var hasErrors: Bool { all.contains { $0.severity == .error } }
  public var errors: [Diagnostic] { all.filter { $0.severity == .error } }
  public var warnings: [Diagnostic] { all.filter { $0.severity == .warning } }

  public mutating func error(_ message: String, at location: SourceLocation) {
    all.append(Diagnostic(.error, at: location, message))
  }

  public mutating func warning(_ message: String, at location: SourceLocation) {
    all.append(Diagnostic(.warning, at: location, message))
  }

  public mutating func append(contentsOf other: DiagnosticList) {
    all.append(contentsOf: other.all)
  }

  /// In file order, so that a reader goes through them top to bottom.
  public var sorted: [Diagnostic] {
    all.enumerated().sorted { a, b in
      a.element.location == b.element.location
        ? a.offset < b.offset : a.element.location < b.element.location
    }.map(\.element)
  }
}
