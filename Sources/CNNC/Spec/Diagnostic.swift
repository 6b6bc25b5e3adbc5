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
    if let line = source.line(location.line) {
      // Tabs stay tabs so that the caret lines up under them in a terminal.
      let prefix = line.prefix(max(0, location.column - 1)).map { $0 == "\t" ? "\t" : " " }
      text += "\n" + line + "\n" + prefix.joined() + "^"
    }
    return text
  }
}

/// The lines of a spec file, for showing the line a diagnostic points at.
public struct SourceText: Sendable {
  private let lines: [Substring]

  public init(_ bytes: [UInt8]) {
    let text = String(decoding: bytes, as: UTF8.self)
    lines = text.split(separator: "\n", omittingEmptySubsequences: false)
  }

  public func line(_ number: Int) -> String? {
    guard number >= 1, number <= lines.count else { return nil }
    let line = lines[number - 1]
    // Garbage or huge lines are not worth echoing in full.
    let shown = line.count > 200 ? String(line.prefix(200)) + "…" : String(line)
    // Control characters would garble a terminal; show a stand-in of the same width.
    return String(
      shown.unicodeScalars.filter { $0 != "\r" }.map { scalar -> Character in
        scalar.value < 0x20 && scalar != "\t" || scalar.value == 0x7F
          ? "\u{FFFD}" : Character(scalar)
      })
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
