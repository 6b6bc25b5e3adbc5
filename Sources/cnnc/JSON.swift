import Foundation

/// A JSON value that keeps its keys in the order they were written.
enum JSON {
  case object([(String, JSON)])
  case array([JSON])
  case string(String)
  case integer(Int)
  case number(Double)
  case bool(Bool)
  case null

  var text: String {
    switch self {
    case .object(let pairs):
      return "{" + pairs.map { "\(JSON.quoted($0.0)):\($0.1.text)" }.joined(separator: ",") + "}"
    case .array(let items): return "[" + items.map(\.text).joined(separator: ",") + "]"
    case .string(let value): return JSON.quoted(value)
    case .integer(let value): return String(value)
    case .number(let value): return value.isFinite ? String(value) : "null"
    case .bool(let value): return String(value)
    case .null: return "null"
    }
  }

  /// A JSON string literal (JSONEncoder's escaping, slashes left as they are).
  static func quoted(_ string: String) -> String {
    guard let data = try? encoder.encode(string) else { return "\"\"" }
    return String(decoding: data, as: UTF8.self)
  }

  private static let encoder = {
    let encoder = JSONEncoder()
    encoder.outputFormatting = .withoutEscapingSlashes
    return encoder
  }()
}

extension JSON {
  init(_ value: Int?) { self = value.map(JSON.integer) ?? .null }
}
