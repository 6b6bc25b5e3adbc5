/// The front end in one call: YAML text in, an inferred network and its diagnostics out.
public struct CheckResult: Sendable {
  /// What could be inferred; nil when the file is not a usable spec at all.
  public var network: InferredNetwork?
  public var diagnostics: DiagnosticList

  public var isValid: Bool { network != nil && !diagnostics.hasErrors }
}

/// Thrown by the convenience initialiser when a spec has errors.
public struct SpecError: Error, CustomStringConvertible {
  public var diagnostics: [Diagnostic]

  public var description: String {
    diagnostics.map { "\($0.location.line):\($0.location.column): \($0.message)" }
      .joined(separator: "\n")
  }
}

/// What `cnnc check` runs: parse, then infer shapes, collecting every diagnostic on the way
/// rather than stopping at the first.
public enum SpecChecker {
  /// Parses and infers `bytes`; `name` is used when the spec has no `name:`.
  public static func check(_ bytes: [UInt8], name: String) -> CheckResult {
    var (spec, diagnostics) = SpecParser.parse(bytes, defaultName: name)
    guard let spec else { return CheckResult(network: nil, diagnostics: diagnostics) }
    let network = ShapeInference.infer(spec, diagnostics: &diagnostics)
    // After other errors a layer may look unread only because its reader's input was misspelt.
    if !diagnostics.hasErrors { reportUnreadOutputs(network, &diagnostics) }
    if network.parameterCount == nil {
      diagnostics.error(
        "the network's total parameter count overflows a 64-bit integer",
        at: .init(line: 1, column: 1))
    } else if network.flops == nil {
      diagnostics.error(
        "the network's total FLOP count overflows a 64-bit integer", at: .init(line: 1, column: 1))
    }
    return CheckResult(network: network, diagnostics: diagnostics)
  }

  /// A layer other than the last whose output no layer reads is an error: the network's output
  /// is the last layer's, so that branch computes nothing anyone sees, and training (which
  /// needs every branch to lead to the loss) could not run it. One rule for `check`, `run` and
  /// the library.
  static func reportUnreadOutputs(_ network: InferredNetwork, _ diagnostics: inout DiagnosticList) {
    let readers = network.readerCounts
    for (index, layer) in network.layers.enumerated().dropLast() where readers[index] == 0 {
      diagnostics.error(
        "\(layer.spec.subject): its output reaches no later layer, and only the last layer's "
          + "is the network's output; remove it or give it as an input",
        at: layer.spec.location)
    }
  }
}
