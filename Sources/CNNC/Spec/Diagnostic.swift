/// An error or warning about a spec, tied to the place in the file it is about.
public struct Diagnostic: Hashable, Sendable {
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
public struct SourceText: Sendable {
  /// Each line as Unicode scalars (libyaml counts columns in characters), for O(1) slicing.
  private let lines: [[Unicode.Scalar]]
  /// Longer lines are shown as a window around the column.
  static let window = 100

  public init(_ bytes: [UInt8]) {
    let text = String(decoding: bytes, as: UTF8.self)
    lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false)
      .map { Array($0) }
  }

  /// The part of line `number` around `column`, and the white space that puts a caret under it.
  public func excerpt(line number: Int, column: Int) -> (line: String, caret: String)? {
    guard number >= 1, number <= lines.count else { return nil }
    let line = lines[number - 1]
    let target = min(max(column - 1, 0), line.count)
    let start = max(0, target - Self.window)
    let end = min(line.count, target + Self.window)
    var shown = ""
    var caret = start > 0 ? " " : ""
    if start > 0 { shown += "…" }
    for (offset, scalar) in line[start..<end].enumerated() where scalar != "\r" {
      // Control characters would garble a terminal; show a stand-in of the same width.
      let isControl = scalar.value < 0x20 && scalar != "\t" || scalar.value == 0x7F
      shown.unicodeScalars.append(isControl ? "\u{FFFD}" : scalar)
      // Tabs stay tabs so that the caret lines up under them.
      if start + offset < target { caret += scalar == "\t" ? "\t" : " " }
    }
    if end < line.count { shown += "…" }
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
