import ArgumentParser
import CNNC
import Foundation

struct CheckCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "check",
    abstract: "Check a network spec: infer every shape and report what does not fit.")

  @Argument(help: "The spec file (YAML).")
  var spec: String

  @OptionGroup var jsonOption: JSONOption
  var json: Bool { jsonOption.json }

  @Flag(help: "Print the graph in Graphviz DOT, shapes on the edges.")
  var dot = false

  @Option(help: "Draw the graph into this SVG file with Graphviz's dot (when installed).")
  var svg: String?

  @OptionGroup var batchOption: BatchOption
  var batch: Int? { batchOption.batch }

  @Flag(help: "Print the execution plan: its steps with operand offsets, and buffer lifetimes.")
  var plan = false

  @Option(help: "The mode --plan prints: inference or training.")
  var mode: PlanMode = .training

  func validate() throws {
    if [json, dot, plan, svg != nil].filter({ $0 }).count > 1 {
      throw ValidationError("choose one of --json, --dot, --svg and --plan")
    }
  }

  func run() throws {
    if let svg { try refuseOverlaps(inputs: [("the spec", spec)], outputs: [("--svg", svg)]) }
    let file = try SpecFile(path: spec)
    let result = SpecChecker.check(file.bytes, name: file.defaultName)
    let diagnostics = result.diagnostics.sorted
    // The memory figures appear only in the table and in --json; --plan makes its own one plan.
    let plans =
      try result.isValid && !dot && !plan && svg == nil ? memoryPlans(result.network) : nil
    if json {
      var report = CheckReport.json(result, diagnostics: diagnostics)
      if let plans, case .object(var pairs) = report {
        pairs.append(("memory", CheckReport.memoryJSON(plans)))
        report = .object(pairs)
      }
      print(report.text)
    } else {
      file.printDiagnostics(diagnostics)
      if result.isValid, let network = result.network {
        if dot {
          print(DotGraph.text(network))
        } else if let svg {
          try GraphvizRender.render(network, to: svg)
          print("wrote \(svg)")
        } else if plan {
          print(PlanReport.text(try makePlan(network, mode: mode, batch: batch ?? 1)))
        } else {
          print(CheckReport.table(network))
          if let plans { print("\n" + CheckReport.memoryTable(plans)) }
        }
      }
    }
    if !result.isValid { throw ExitCode(1) }
  }
}

extension PlanMode: ExpressibleByArgument {}
extension ConvolutionLowering: ExpressibleByArgument {}

extension CheckCommand {
  /// Both modes' plans at --batch, when it was given.
  func memoryPlans(_ network: InferredNetwork?) throws -> [ExecutionPlan]? {
    guard let batch, let network else { return nil }
    return try PlanMode.allCases.map { try makePlan(network, mode: $0, batch: batch) }
  }

  func makePlan(_ network: InferredNetwork, mode: PlanMode, batch: Int) throws -> ExecutionPlan {
    do {
      // A training plan lowers convolutions as the spec's train.lowering says.
      let lowering = mode == .training ? network.train?.lowering ?? .auto : .auto
      return try Planner.plan(network, PlanOptions(mode: mode, batch: batch, lowering: lowering))
    } catch {
      printError("error: \(spec): cannot plan \(mode) at batch \(batch): \(error.message)")
      throw ExitCode(1)
    }
  }
}

/// A spec read from disk, with what diagnostics need to show its lines.
struct SpecFile {
  let path: String
  let bytes: [UInt8]

  init(path: String) throws {
    self.path = path
    do {
      bytes = try SpecParser.readFile(path)
    } catch {
      printError("error: \(path): \(error.reason)")
      throw ExitCode(1)
    }
  }

  /// The file name without folder or extension: the network's name when the spec gives none.
  var defaultName: String {
    let base = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
    return base.isEmpty ? "network" : base
  }

  /// Like a compiler's error limit: past this many, the rest are counted, not printed
  /// (`--json` still lists every one).
  static let diagnosticsShown = 100

  func printDiagnostics(_ diagnostics: [Diagnostic]) {
    let source = SourceText(bytes)
    for diagnostic in diagnostics.prefix(Self.diagnosticsShown) {
      printError(diagnostic.rendered(fileName: path, source: source))
    }
    if diagnostics.count > Self.diagnosticsShown {
      printError(
        "… and \(diagnostics.count - Self.diagnosticsShown) more not shown (--json lists them all)")
    }
    let errors = diagnostics.filter { $0.severity == .error }.count
    if errors > 0 {
      printError("\(errors) error\(errors == 1 ? "" : "s") in \(path)")
    }
  }
}

func printError(_ text: String) {
  FileHandle.standardError.write(Data((text + "\n").utf8))
}
