import CNNC
import Foundation

/// The summary `cnnc check` prints: a table for people, JSON for programs.
enum CheckReport {
  static func table(_ network: InferredNetwork) -> String {
    var rows: [[String]] = [["layer", "type", "inputs", "output", "params", "FLOPs"]]
    for layer in network.layers {
      rows.append([
        layer.name, layer.typeName, layer.spec.inputNames.joined(separator: ","),
        layer.output?.description ?? "?", grouped(layer.parameterCount), grouped(layer.flops),
      ])
    }
    rows.append(["total", "", "", "", grouped(network.parameterCount), grouped(network.flops)])
    let numeric: Set<Int> = [4, 5]
    var lines = ["\(network.name): input \(network.input)"]
    lines += aligned(rows, rightAligned: numeric)
    return lines.joined(separator: "\n")
  }

  static func json(_ result: CheckResult, diagnostics: [Diagnostic]) -> JSON {
    let network = result.network
    let layers: [JSON] = (network?.layers ?? []).map { layer in
      .object([
        ("name", .string(layer.name)),
        ("type", .string(layer.typeName)),
        ("inputs", .array(layer.spec.inputNames.map(JSON.string))),
        ("output", layer.output.map { .array($0.dimensions.map(JSON.integer)) } ?? .null),
        ("params", JSON(layer.parameterCount)),
        ("flops", JSON(layer.flops)),
      ])
    }
    func located(_ severity: Diagnostic.Severity) -> JSON {
      .array(
        diagnostics.filter { $0.severity == severity }.map {
          .object([
            ("line", .integer($0.location.line)), ("column", .integer($0.location.column)),
            ("message", .string($0.message)),
          ])
        })
    }
    return .object([
      ("name", network.map { .string($0.name) } ?? .null),
      ("input", network.map { .array($0.input.dimensions.map(JSON.integer)) } ?? .null),
      ("layers", .array(layers)),
      ("params", JSON(network?.parameterCount)),
      ("flops", JSON(network?.flops)),
      ("warnings", located(.warning)),
      ("errors", located(.error)),
    ])
  }

  static func memoryTable(_ plans: [ExecutionPlan]) -> String {
    let batch = plans.first?.options.batch ?? 0
    var rows = [
      ["memory, batch \(batch)", "arena bytes", "naive bytes", "lower bound", "arena/bound"]
    ]
    for plan in plans {
      let ratio =
        plan.lowerBoundBytes > 0 ? Double(plan.arenaBytes) / Double(plan.lowerBoundBytes) : 1
      rows.append([
        plan.options.mode.rawValue, grouped(plan.arenaBytes), grouped(plan.naiveBytes),
        grouped(plan.lowerBoundBytes), String(format: "%.3f", ratio),
      ])
    }
    let parameters = plans.first?.parameterFloats ?? 0
    return
      (aligned(rows, rightAligned: [1, 2, 3, 4])
      + [
        "parameters: \(grouped(parameters * 4)) bytes (training keeps gradients and the "
          + "optimizer's state too: ×3 with SGD's momentum, ×4 with Adam)"
      ])
      .joined(separator: "\n")
  }

  static func memoryJSON(_ plans: [ExecutionPlan]) -> JSON {
    var pairs: [(String, JSON)] = [("batch", .integer(plans.first?.options.batch ?? 0))]
    for plan in plans {
      pairs.append(
        (
          plan.options.mode.rawValue,
          .object([
            ("arena_bytes", .integer(plan.arenaBytes)),
            ("naive_bytes", .integer(plan.naiveBytes)),
            ("lower_bound_bytes", .integer(plan.lowerBoundBytes)),
          ])
        ))
    }
    return .object(pairs)
  }

  /// 431080 → "431,080"; nil → "?".
  static func grouped(_ value: Int?) -> String {
    guard let value else { return "?" }
    let digits = Array(String(value.magnitude))
    var out = ""
    for (index, digit) in digits.enumerated() {
      if index > 0, (digits.count - index) % 3 == 0 { out += "," }
      out.append(digit)
    }
    return (value < 0 ? "-" : "") + out
  }

  /// Pads each column to its widest cell, two spaces between columns.
  /// Cells wider than this are shortened with an ellipsis (whole in `--json`), so that one
  /// long name cannot pad every row of a large table: output stays linear in the spec's size.
  static let maximumCellWidth = 48

  /// `cell`, or its first characters and an ellipsis when it is wider than a table cell. Looks
  /// at no more than `maximumCellWidth + 1` characters, so a long name costs no more than a short.
  static func shortened(_ cell: String) -> String {
    let head = cell.prefix(maximumCellWidth + 1)
    return head.count <= maximumCellWidth ? cell : head.prefix(maximumCellWidth - 1) + "…"
  }

  static func aligned(_ rows: [[String]], rightAligned: Set<Int>) -> [String] {
    let rows = rows.map { row in
      row.map { cell in
        shortened(cell)
      }
    }
    let columns = rows.map(\.count).max() ?? 0
    let widths = (0..<columns).map { column in
      rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0
    }
    return rows.map { row in
      row.enumerated().map { column, cell in
        let padding = String(repeating: " ", count: widths[column] - cell.count)
        return rightAligned.contains(column) ? padding + cell : cell + padding
      }.joined(separator: "  ").trimmingTrailingSpaces()
    }
  }
}

extension String {
  func trimmingTrailingSpaces() -> String {
    var copy = self
    while copy.last == " " { copy.removeLast() }
    return copy
  }
}
