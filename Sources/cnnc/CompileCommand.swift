import ArgumentParser
import CNNC
import Foundation

struct CompileCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "compile",
    abstract: "Write a trained network as one dependency-free C file and its header.",
    discussion: """
      DIR/NAME.h declares NAME_run(input, output, arena) and the sizes NAME_INPUT_FLOATS, \
      NAME_OUTPUT_FLOATS and NAME_ARENA_BYTES; DIR/NAME.c is plain C99 with the weights as \
      constants, batchnorm folded. See docs/compile.md.
      """)

  @Argument(help: "The spec file (YAML).")
  var spec: String

  @Option(help: "The trained checkpoint (safetensors).")
  var weights: String

  @Option(name: [.customShort("o"), .long], help: "The folder to write into (made if missing).")
  var output: String

  @Option(help: "The C name of the files and the function (default: the spec's name).")
  var name: String?

  @Flag(help: "Also write DIR/NAME_test.c, a main that checks the C against cnnc's own outputs.")
  var test = false

  func run() throws {
    let file = try SpecFile(path: spec)
    let result = SpecChecker.check(file.bytes, name: file.defaultName)
    file.printDiagnostics(result.diagnostics.sorted)
    guard result.isValid, let network = result.network else { throw ExitCode(1) }
    let compiled: CompiledNetwork
    do {
      let checkpoint = try SafeTensors.read(weights)
      if QuantizedNetwork.isCheckpoint(checkpoint) {
        compiled = try CompiledNetwork(
          QuantizedNetwork(network, checkpoint: checkpoint, path: weights),
          name: name ?? network.name, specPath: spec)
      } else {
        let layout = try network.parameterLayout()
        let values = try Checkpoints.values(
          of: checkpoint, path: weights, layout.slots, floats: layout.floats)
        compiled = try CompiledNetwork(
          network, parameters: values, name: name ?? network.name, specPath: spec)
      }
    } catch let error as PlanError {
      throw CommandFailure("\(spec): \(error.message)")
    } catch let error as CompileError {
      throw CommandFailure("\(spec): \(error.message)")
    } catch let error as QuantizationError {
      throw CommandFailure(error.message)
    } catch {
      throw CommandFailure(error)
    }
    let files: [(bytes: [UInt8], path: String)]
    do {
      files = try compiled.files(in: output, selfTest: test)
    } catch {
      throw CommandFailure("\(spec): \(error)")
    }
    try refuseOverlaps(
      inputs: [("the spec", spec), ("--weights", weights)],
      outputs: files.map { ("-o", $0.path) })
    var isFolder: ObjCBool = false
    if FileManager.default.fileExists(atPath: output, isDirectory: &isFolder) {
      guard isFolder.boolValue else {
        throw CommandFailure("-o \(output): is a file, not a folder")
      }
    } else {
      do {
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
      } catch {
        throw CommandFailure("-o \(output): cannot make the folder (\(error.localizedDescription))")
      }
    }
    do {
      try OutputFile.writeAll(files)
    } catch {
      throw CommandFailure(error)
    }
    print("wrote " + files.map(\.path).joined(separator: ", "))
    printSummary(compiled)
  }

  private func printSummary(_ compiled: CompiledNetwork) {
    let plan = compiled.plan
    let grouped = CheckReport.grouped
    let source = compiled.source
    print(
      "arena \(grouped(source.arenaBytes)) bytes (the plan's lower bound: "
        + "\(grouped(source.lowerBound))); constants \(grouped(source.constantBytes)) bytes"
        + (source.quantized == nil ? "" : " (int8)"))
    for (index, step) in plan.steps.enumerated() {
      let layers = step.layers.map { plan.network.layers[$0].name }.joined(separator: " + ")
      let place: String
      if source.quantized?.floatSteps.contains(index) == true {
        place = "the output, in float (\(grouped(4 * plan.outputFloats)) bytes"
      } else if let (offset, bytes) = source.arenaPlace(ofBuffer: step.output) {
        place = "arena \(grouped(offset)) (\(grouped(bytes)) bytes"
      } else {
        place = "the output (\(grouped(4 * plan.outputFloats)) bytes"
      }
      let inPlace = step.inputs.contains(step.output) ? ", in place" : ""
      print("  \(index + 1). \(layers) -> \(place)\(inPlace))")
    }
  }
}
